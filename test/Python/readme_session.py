"""Runs the README's Python session (the ```python block after the
`python-session` marker in README.md) exactly as written, from the
repository root, so the README cannot drift from what works."""
import os
import re
import sys

root = sys.argv[1]
with open(os.path.join(root, "README.md")) as f:
    readme = f.read()
match = re.search(r"<!-- python-session:[^>]*-->\s*```python\n(.*?)```",
                  readme, re.S)
if not match:
    sys.exit("readme_session: no python-session block in README.md")
lines = match.group(1).strip().splitlines()
print(f"readme_session: {len(lines)} lines")
os.chdir(root)
exec(compile("\n".join(lines) + "\n", "README.md", "exec"), {})
