"""tools/sass_loops.py finds loops in cuobjdump's SASS listing (a synthetic listing: no cuobjdump here)."""
from tools.sass_loops import functions, loops

LISTING = """
        Function : other
        /*0000*/                   EXIT ;
        Function : postprocess_staged_f16
        /*0000*/                   MOV R1, c[0x0][0x28] ;                  /* 0x00000a0000017a02 */
        /*0010*/                   LDS.128 R4, [R2] ;
        /*0020*/               @P0 STG.E desc[UR4][R2.64], R5 ;
        /*0030*/              @!P1 BRA 0x10 ;
        /*0040*/                   LDL R3, [R1+0x8] ;
        /*0050*/                   BRA 0x60 ;
        /*0060*/                   EXIT ;
"""


def test_a_backward_branch_is_a_loop_with_its_instructions_counted():
    parsed = functions(LISTING)
    assert sorted(parsed) == ["other", "postprocess_staged_f16"]
    body = parsed["postprocess_staged_f16"]
    assert [address for address, _ in body] == [0x0, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60]
    found = loops(body)
    assert len(found) == 1  # the forward branch at 0x50 is not a loop
    first, last, ops = found[0]
    assert (first, last) == (0x10, 0x30)
    assert ops == {"LDS.128": 1, "STG.E": 1, "BRA": 1}  # predicates stripped from the opcodes
