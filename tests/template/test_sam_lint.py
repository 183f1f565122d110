"""cfn-lint over template.yaml: the schema, SAM transform and best-practice rules."""

from pathlib import Path

from template_facts import TEMPLATE_PATH


def test_cfn_lint_reports_no_error_or_warning_on_template_yaml():
    from cfnlint.api import lint_file

    matches = lint_file(Path(TEMPLATE_PATH))
    report = "\n".join(
        f"{m.rule.id} {m.message} (template.yaml:{m.linenumber}:{m.columnnumber})" for m in matches
    )
    assert not matches, f"cfn-lint found problems in template.yaml:\n{report}"
