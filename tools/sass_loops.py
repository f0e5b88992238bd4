"""Static instruction counts of the post kernel's loops, on a machine without a GPU.

Compiles kernels/stylize_kernels.cu with NVRTC (as the SDK does) and disassembles it with cuobjdump
(`pip install nvidia-cuda-cuobjdump`), then prints, for each loop of a kernel (a backward branch), its
length and the instructions that tell the loops apart: shared loads (LDS.128: the blend loops), word and
byte stores, global loads (the temporal loops prefetch the previous frames), local memory (spills).

A static count is not a time: the GPU runs each loop a data-dependent number of times, and kernel_tuning.md
records how such counts have and have not predicted the H200's timings. It is here to compare two builds
of the kernels before a GPU is at hand:

    python -m tools.sass_loops --arch sm_90 [--define SK_POST_MIN_BLOCKS=2] [--kernels OTHER/kernels]
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

SHOWN = ("LDS.128", "STG.E", "STG.E.U8", "LDG.E", "LDG.E.U8", "LDGSTS.E", "FFMA.SAT", "LDL", "STL")


def cuobjdump() -> str:
    found = shutil.which("cuobjdump")
    if found:
        return found
    for entry in sys.path:
        candidate = Path(entry) / "nvidia" / "cu13" / "bin" / "cuobjdump"
        if candidate.is_file():
            return str(candidate)
    raise SystemExit("cuobjdump not found: `pip install nvidia-cuda-cuobjdump` (or put the CUDA toolkit's bin on PATH)")


def functions(sass: str) -> dict[str, list[tuple[int, str]]]:
    """Each function's instructions as (address, text)."""
    out = {}
    for name, body in re.findall(r"Function : (\w+)\n(.*?)(?=\n\s*Function :|\Z)", sass, re.DOTALL):
        out[name] = [(int(a, 16), t.strip()) for a, t in re.findall(r"/\*([0-9a-f]{4,})\*/\s*(.*?);", body)]
    return out


def opcode(text: str, modifiers: bool = True) -> str:
    """A SASS instruction's opcode without its predicate: '@!P0 FFMA.SAT R2, ...' -> 'FFMA.SAT' ('FFMA' without
    the modifiers)."""
    words = text.split()
    if words and words[0].startswith("@"):
        words = words[1:]
    op = words[0] if words else ""
    return op if modifiers else op.split(".")[0]


def loops(instructions: list[tuple[int, str]]) -> list[tuple[int, int, Counter]]:
    """(first address, last address, opcode counts) of every backward branch's span."""
    index = {address: i for i, (address, _) in enumerate(instructions)}
    found = []
    for i, (address, text) in enumerate(instructions):
        target = re.search(r"\bBRA\b.*?(0x[0-9a-f]+)", text)
        if target and int(target.group(1), 16) <= address:
            start = index[int(target.group(1), 16)]
            ops = Counter(opcode(t) for _, t in instructions[start:i + 1])
            found.append((instructions[start][0], address, ops))
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="sm_90")
    parser.add_argument("--define", action="append", default=[], help="NAME=VALUE for the kernels (repeatable)")
    parser.add_argument("--rows", type=int, default=8, help="SK_POST_ROWS")
    parser.add_argument("--kernels", type=Path, help="another kernels/ folder to compile (e.g. an older commit's)")
    parser.add_argument("--function", default="postprocess_staged_f16")
    args = parser.parse_args(argv)

    from sdk.cuda import compiler
    if args.kernels:
        compiler.KERNEL_DIR = args.kernels.resolve()
    cubin = compiler.compile_cubin(args.arch, use_cache=False, post_rows=args.rows, defines=tuple(args.define))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kernels.cubin"
        path.write_bytes(cubin)
        sass = subprocess.run([cuobjdump(), "-sass", str(path)], check=True, capture_output=True, text=True).stdout
        usage = subprocess.run([cuobjdump(), "-res-usage", str(path)], check=True, capture_output=True, text=True).stdout
    resources = re.search(rf"Function {args.function}:\s*\n\s*(REG:\d+ STACK:\d+)", usage)
    body = functions(sass)[args.function]
    print(f"{args.function} ({args.arch}, rows {args.rows}, {' '.join(args.define) or 'default build'}): "
          f"{len(body)} instructions, {resources.group(1) if resources else '?'}")
    print(f"{'loop':>17} {'length':>6}  " + " ".join(f"{op:>8}" for op in SHOWN))
    for first, last, ops in loops(body):
        print(f"{first:#8x}-{last:#8x} {sum(ops.values()):6d}  " + " ".join(f"{ops[op]:8d}" for op in SHOWN))
    return 0


if __name__ == "__main__":
    sys.exit(main())
