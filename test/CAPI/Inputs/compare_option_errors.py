"""For every moe-compile option, the message the C API gives for a bad value
(moe-capi-options-test rejections) must appear in what moe-opt prints for
the same `-moe-compile=name=value` on `sys.argv[1]`."""
import subprocess
import sys

lines = subprocess.run(["moe-capi-options-test", "rejections"], check=True,
                       capture_output=True, text=True).stdout.splitlines()
different = 0
for line in lines:
    name, value, message = line.split("\t")
    opt = subprocess.run(["moe-opt", sys.argv[1], "-o", "/dev/null",
                          "-moe-compile=%s=%s" % (name, value)],
                         capture_output=True, text=True)
    if opt.returncode != 0 and message and message in opt.stderr:
        print("same message as moe-opt: %s=%s" % (name, value))
    else:
        different += 1
        print("DIFFERENT %s=%s: API %r, moe-opt %r" % (name, value, message,
                                                        opt.stderr))
print("%d options compared, %d different" % (len(lines), different))
