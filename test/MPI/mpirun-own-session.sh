#!/bin/sh
# mpirun with an Open MPI session directory of its own (lit.cfg.py's
# %mpirun): mpiruns that start at the same moment (lit runs tests two at a
# time) race to create Open MPI's shared session directory under /tmp, and
# the loser's orte_init fails ("orte_session_dir failed ... File exists").
# Usage: mpirun-own-session.sh BASE MPIRUN [ARGS...]
base=$1
mpirun=$2
shift 2
mkdir -p "$base" && dir=$(mktemp -d "$base/session.XXXXXX") || exit 1
exec "$mpirun" --mca orte_tmpdir_base "$dir" "$@"
