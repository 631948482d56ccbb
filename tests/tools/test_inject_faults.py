"""tools/inject_faults.py: every fault still applies to today's code and names tests that exist."""

import ast
import importlib.util
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "inject_faults.py"
spec = importlib.util.spec_from_file_location("inject_faults", TOOL)
tool = importlib.util.module_from_spec(spec)
sys.modules["inject_faults"] = tool  # its dataclasses look their module up
spec.loader.exec_module(tool)


def test_every_fault_replaces_text_that_is_there_and_names_existing_tests():
    for fault in tool.FAULTS:
        for path, old, new in fault.edits:
            assert old in (tool.ROOT / path).read_text(encoding="utf-8"), (fault.name, path)
            assert old != new, fault.name
        for test in fault.tests:
            file, _, name = test.partition("::")
            source = (tool.ROOT / file).read_text(encoding="utf-8")
            functions = {n.name for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef)}
            assert not name or name in functions, (fault.name, test)


def test_a_fault_is_undone_after_its_tests_ran(tmp_path, monkeypatch):
    target = tmp_path / "module.py"
    target.write_text("VALUE = 1\n")
    monkeypatch.setattr(tool, "ROOT", tmp_path)
    (tmp_path / "test_module.py").write_text(
        "from pathlib import Path\n\n\ndef test_value():\n"
        "    assert Path(__file__).with_name('module.py').read_text() == 'VALUE = 1\\n'\n"
    )
    fault = tool.Fault("value changed", (("module.py", "VALUE = 1", "VALUE = 2"),), ("test_module.py",))
    failed, last = tool.caught(fault)
    assert failed and "1 failed" in last
    assert target.read_text() == "VALUE = 1\n"
