"""Stand-in for the get-pip.py bootstrap script that ansible-test downloads.

ansible-test creates an empty virtual environment for each sanity test and runs this script in it
to install pip. The machines the tests run on cannot reach ansible-test's download host, so the
test runner places this file where ansible-test caches that script. It does the same job with the
standard library's ensurepip, then installs the exact pip version ansible-test asked for.
"""

import subprocess
import sys

# get-pip.py options that are not pip's own: setuptools and wheel are simply not installed here.
GET_PIP_ONLY_OPTIONS = {"--no-setuptools", "--no-wheel"}


def main():
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
    subprocess.check_call([sys.executable, "-m", "pip", "install", *args])


if __name__ == "__main__":
    main()
