"""tools/sass_profile.py reads Nsight Compute's per-instruction table (a synthetic one: no ncu here)."""
from tools.sass_profile import main, opcode, read_table, straight_runs, summary

# The layout `ncu --page source --csv --print-source sass` wrote on the H200 (more columns there).
TABLE = '''"Kernel Name","postprocess_staged_f16",
"Address","Source","Warp Stall Sampling (All Samples)","Warp Stall Sampling (Not-issued Samples)","Instructions Executed"
"0x10","      LDC R1, c[0x0][0x28]","2","2","10"
"0x20","      S2R R0, SR_TID.X","0","0","10"
"0x30","      FFMA R2, R0, R1, R3","5","4","40"
"0x40","  @!P0 FFMA.SAT R2, R2, R1, R3","3","3","40"
"0x50","  @P1 BRA 0x30","0","0","40"
"0x60","      LDS.128 R4, [R2]","6","6","40"
"0x70","      STG.E desc[UR4][R2.64], R5","4","4","10"
"0x80","      EXIT","0","0","10"
'''


def test_runs_of_equal_counts_split_at_branches_and_rank_by_executed_instructions(tmp_path, capsys):
    path = tmp_path / "table.csv"
    path.write_text(TABLE)
    table = read_table(path)
    assert table[3] == ("@!P0 FFMA.SAT R2, R2, R1, R3", 40, 3)
    assert [opcode(s, modifiers=False) for s, _, _ in table] == ["LDC", "S2R", "FFMA", "FFMA", "BRA", "LDS", "STG",
                                                                 "EXIT"]
    runs = straight_runs(table)
    # The branch ends the loop's run, so the load after it starts a new one though it executed as often.
    assert [(r["first"], r["length"], r["count"]) for r in runs] == [(0, 2, 10), (2, 3, 40), (5, 1, 40), (6, 2, 10)]
    lines = summary(table, top=2, warps=10)
    assert lines[0] == "200 warp instructions executed, 20 stall samples, 8 instructions in the listing"
    assert lines[1].startswith("#2         3 instructions   4.00 a warp:  60.0% of executed,  40.0% of stalls")
    assert "(FFMA 2, BRA 1)" in lines[1]
    assert lines[2].startswith("#5         1 instructions   4.00 a warp:  20.0% of executed,  30.0% of stalls")
    assert main([str(path), "--top", "1"]) == 0
    assert "60.0% of executed" in capsys.readouterr().out
