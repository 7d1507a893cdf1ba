import json
import subprocess
import sys

import pandas as pd
import pytest

from rmx_widgets.cli import main


def test_demo_writes_table_report_and_prints_sensitivity(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Global sensitivity" in printed and "avoid-to-answer" in printed
    table = pd.read_parquet(out / "table.parquet")
    jsonl = pd.read_json(out / "table.jsonl", lines=True)
    assert len(table) == len(jsonl) > 0
    assert {"comparison_id", "side", "attribute", "outcome", "margin_after"} <= set(table)
    sens = pd.read_csv(out / "sensitivity.csv")
    assert list(sens.columns) == ["attribute", "direction", "pfr", "ci_low", "ci_high", "n",
                                  "mean_margin_change"]
    html = (out / "report.html").read_text()
    assert "vega" in html and "cdn.jsdelivr" not in html
    summary = json.loads((out / "summary.json").read_text())
    assert summary["comparisons"] >= 44

    # a second run is served from the store: no rewrite and no score computed
    assert main(["demo", "--out", str(out)]) == 0
    again = json.loads((out / "summary.json").read_text())
    assert again["run_perturbations_computed"] == 0 and again["run_scores_computed"] == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out / "table.parquet"), table)


def test_explain_with_transparent_rm_on_user_file_and_report(tmp_path, capsys):
    data = tmp_path / "pairs.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in [
        {"prompt": "How do I boil an egg?", "chosen": "Great question! Boil water, add the egg "
         "and cook it for nine minutes. I hope this helps.", "rejected": "I'm sorry, but I "
         "can't help with that."},
        {"prompt": "What is 12 * 4?", "chosen": "12 * 4 = 48.", "rejected": "12 * 4 = 46."},
    ]) + "\n")
    out = tmp_path / "x"
    code = main(["explain", "--data", str(data), "--rm", "transparent", "--perturber", "rules",
                 "--attributes", "avoid-to-answer,correctness,manner", "--out", str(out)])
    assert code == 0
    t = pd.read_parquet(out / "table.parquet")
    assert set(t["attribute"]) == {"avoid-to-answer", "correctness", "manner"}
    assert main(["report", "--table", str(out / "table.parquet"),
                 "--out", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").read_text().count("avoid-to-answer") > 0


@pytest.mark.parametrize("argv_tail, needle", [
    (["--rm", "transparent", "--attributes", "verbositty"], "Did you mean 'verbosity'"),
    (["--rm", "transparent", "--perturber", "openai"], "needs --model"),
    (["--rm", "/no/such/model/dir"], "/no/such/model/dir"),
])
def test_user_mistakes_exit_2_with_one_message_no_traceback(tmp_path, argv_tail, needle):
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps({"prompt": "p", "chosen": "a b", "rejected": "c"}) + "\n")
    proc = subprocess.run([sys.executable, "-m", "rmx_widgets.cli", "explain", "--data",
                           str(data), "--out", str(tmp_path / "o"), *argv_tail],
                          capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1",
                                                               "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("rmx: error:")


def test_bad_data_file_names_line_and_field(tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n{"prompt": "p"}\n')
    proc = subprocess.run([sys.executable, "-m", "rmx_widgets.cli", "explain", "--data",
                           str(data), "--rm", "transparent", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert f"{data}, row 2, field 'chosen': the field is missing." in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "o").exists()


def test_lab_binds_loopback_and_opens_the_notebooks(tmp_path):
    from rmx_widgets.cli import lab_command

    cmd = lab_command(tmp_path, 8899)
    assert cmd[1:3] == ["-m", "jupyterlab"] and "--ip" in cmd
    assert cmd[cmd.index("--ip") + 1] == "127.0.0.1" and "--no-browser" in cmd
    assert f"--ServerApp.root_dir={tmp_path}" in cmd and "--port=8899" in cmd
    assert main(["lab", "--dir", str(tmp_path / "missing")]) == 2
