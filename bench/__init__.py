"""The benchmark harness (issue 7): ``python -m bench``. Not part of the test suite."""
