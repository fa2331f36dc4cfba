# -*- Python -*-
import os
import shutil
import subprocess

import lit.formats
import lit.util
from lit.llvm import llvm_config

config.name = "MOE"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test", ".c"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.moe_obj_root, "test")
config.excludes = ["lit.cfg.py", "lit.site.cfg.py", "CMakeLists.txt", "Inputs", "lib"]

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%moe_src_root", config.moe_src_root))
config.substitutions.append(("%moe_obj_root", config.moe_obj_root))
# Debian's python3 sees python3-numpy; a pyenv python3 on PATH may not.
config.substitutions.append(("%sys_python", "/usr/bin/python3"))
config.substitutions.append(("%cmake_generator", config.cmake_generator))
config.substitutions.append(("%cmake", config.cmake))
config.substitutions.append(("%make_program", config.make_program))
config.substitutions.append(("%c_compiler", config.c_compiler))
config.substitutions.append(("%cxx_compiler", config.cxx_compiler))
# -I flags for TableGen files that include MLIR's (mlir/IR/OpBase.td, ...).
config.substitutions.append(
    ("%mlir_tblgen_includes",
     " ".join("-I " + d for d in config.mlir_include_dirs.split(";") if d)))

llvm_config.with_system_environment(["HOME", "TMPDIR", "TSAN_OPTIONS"])
llvm_config.use_default_substitutions()

tool_dirs = [config.moe_tools_dir, config.llvm_tools_dir]
llvm_config.add_tool_substitutions(["moe-opt", "moe-import"], tool_dirs)
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.moe_tools_dir, append_path=True)
# The expert matmuls' engines by the fixed row thresholds, not the timing
# planner (docs/Runtime.md): the same f32 results in every process. Tests of
# the planner set MOE_MATMUL_ENGINE=auto themselves.
config.environment["MOE_MATMUL_ENGINE"] = "fixed"

# MPI tests (test/MPI) run the ranks as processes under Open MPI's mpirun:
# as root (CI), on fewer cores than ranks, yielding instead of busy-polling,
# and without the shared-memory transport's cross-process reads (CMA needs
# ptrace rights that containers often lack). Each mpirun gets a session
# directory of its own (test/MPI/mpirun-own-session.sh): two that start at
# once otherwise race to create the shared one under /tmp.
mpirun = shutil.which("mpirun")
if lit.util.pythonize_bool(getattr(config, "moe_have_mpi", "OFF")) and mpirun:
    config.available_features.add("mpi")
    sessions = os.path.join(config.moe_obj_root, "test", "MPI", "sessions")
    config.substitutions.append(
        ("%mpirun", os.path.join(config.moe_src_root, "test", "MPI",
                                 "mpirun-own-session.sh")
         + " " + sessions + " " + mpirun
         + " --allow-run-as-root --oversubscribe"
         " --bind-to none --mca mpi_yield_when_idle 1"
         " --mca btl_vader_single_copy_mechanism none"))

# The Python package (python/, docs/Python.md): built when pybind11-dev and
# python3-dev are present; its tests need pytest for the system python3.
if os.path.exists(os.path.join(config.moe_obj_root, "python", "moe_mlir", "__init__.py")) \
        and subprocess.run(["/usr/bin/python3", "-c", "import pytest"],
                           capture_output=True).returncode == 0:
    config.available_features.add("python-package")
    # torch (Debian's python3-torch, installed by scripts/setup.sh) is
    # optional for the package; the tests that need it require it.
    if subprocess.run(["/usr/bin/python3", "-c", "import torch"],
                      capture_output=True).returncode == 0:
        config.available_features.add("torch")
