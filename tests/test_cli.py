import json
import subprocess
import sys

import pandas as pd
import pytest

import rmx_widgets.core.result as result_module
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
    assert list(sens.columns) == [
        "attribute",
        "direction",
        "pfr",
        "ci_low",
        "ci_high",
        "n",
        "mean_margin_change",
        "n_rewrites",
        "n_comparisons",
        "n_failed",
        "pfr_length_controlled",
        "n_length_controlled",
        "null_pfr",
        "null_n",
        "excess_pfr",
        "excess_ci_low",
        "excess_ci_high",
        "p_value",
        "p_adjusted",
        "significant",
        "n_judged",
        "n_valid",
        "valid_rate",
    ]
    # the demo runs the random-word null by default, so the null columns are filled
    pooled = sens[sens["direction"] == "both"]
    assert pooled["null_n"].gt(0).all() and pooled["p_adjusted"].between(0, 1).all()
    assert pooled["significant"].notna().all()
    html = (out / "report.html").read_text()
    assert "vega" in html and "cdn.jsdelivr" not in html
    summary = json.loads((out / "summary.json").read_text())
    assert summary["comparisons"] >= 44

    # the random null ran on the same rewrites (rows pair on comparison, attribute, direction)
    assert "Null perturber random-words:v1:f0.15:s0:" in printed
    null = pd.read_parquet(out / "null_table.parquet")
    key = ["comparison_id", "attribute", "direction"]
    assert len(null) == len(table) == len(pd.read_json(out / "null_table.jsonl", lines=True))
    assert null.set_index(key).sort_index().index.equals(table.set_index(key).sort_index().index)
    assert summary["null_perturber"] == null["perturber"].iloc[0] != table["perturber"].iloc[0]
    assert summary["null_rows"] == len(null)

    # a second run is served from the store: no rewrite and no score computed
    assert main(["demo", "--out", str(out)]) == 0
    again = json.loads((out / "summary.json").read_text())
    assert again["run_perturbations_computed"] == 0 and again["run_scores_computed"] == 0
    assert again["run_null_perturbations_computed"] == 0
    assert again["run_null_scores_computed"] == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out / "table.parquet"), table)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "null_table.parquet"), null)
    capsys.readouterr()

    # --null none: said so, and the earlier run's null files are gone
    assert main(["demo", "--out", str(out), "--null", "none"]) == 0
    assert "Null perturber: skipped (--null none)." in capsys.readouterr().out
    assert not (out / "null_table.parquet").exists() and not (out / "null_table.jsonl").exists()
    assert json.loads((out / "summary.json").read_text())["null_perturber"] is None


def test_explain_with_transparent_rm_on_user_file_and_report(tmp_path, capsys):
    data = tmp_path / "pairs.jsonl"
    data.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {
                    "prompt": "How do I boil an egg?",
                    "chosen": "Great question! Boil water, add the egg "
                    "and cook it for nine minutes. I hope this helps.",
                    "rejected": "I'm sorry, but I can't help with that.",
                },
                {"prompt": "What is 12 * 4?", "chosen": "12 * 4 = 48.", "rejected": "12 * 4 = 46."},
            ]
        )
        + "\n"
    )
    out = tmp_path / "x"
    code = main(
        [
            "explain",
            "--data",
            str(data),
            "--rm",
            "transparent",
            "--perturber",
            "rules",
            "--attributes",
            "avoid-to-answer,correctness,manner",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    t = pd.read_parquet(out / "table.parquet")
    assert set(t["attribute"]) == {"avoid-to-answer", "correctness", "manner"}
    assert (
        main(["report", "--table", str(out / "table.parquet"), "--out", str(tmp_path / "r.html")])
        == 0
    )
    assert (tmp_path / "r.html").read_text().count("avoid-to-answer") > 0


@pytest.mark.parametrize(
    "argv_tail, needle",
    [
        (["--rm", "transparent", "--attributes", "verbositty"], "Did you mean 'verbosity'"),
        (["--rm", "transparent", "--perturber", "openai"], "needs --model"),
        (["--rm", "/no/such/model/dir"], "/no/such/model/dir"),
    ],
)
def test_user_mistakes_exit_2_with_one_message_no_traceback(tmp_path, argv_tail, needle):
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps({"prompt": "p", "chosen": "a b", "rejected": "c"}) + "\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rmx_widgets.cli",
            "explain",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "o"),
            *argv_tail,
        ],
        capture_output=True,
        text=True,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("rmx: error:")


def test_bad_data_file_names_line_and_field(tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n{"prompt": "p"}\n')
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rmx_widgets.cli",
            "explain",
            "--data",
            str(data),
            "--rm",
            "transparent",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
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


SAMPLES = "rmx_widgets/data/sample_comparisons.jsonl"
PLANTED = "planted=transparent:pleasantries=13.5,follow_up=4.5,hedging=-1.5,off_topic=-0.5"


def test_evaluate_two_rms_three_perturbers_offline(tmp_path, capsys, monkeypatch):
    """The README's `rmx evaluate` line: Polyjuice is skipped offline with its reason, the
    study still writes every table, and a rerun is served from the store."""
    from rmx_widgets.core.perturbers.polyjuice import PolyjuicePerturber

    monkeypatch.setattr(
        PolyjuicePerturber,
        "unavailable_reason",
        staticmethod(lambda name_or_path="": "huggingface.co is unreachable"),
    )
    out = tmp_path / "study"
    argv = [
        "evaluate",
        "--data",
        f"samples={SAMPLES}",
        "--rm",
        PLANTED,
        "--rm",
        "transparent",
        "--perturber",
        "rules",
        "--perturber",
        "random:0.2",
        "--perturber",
        "polyjuice",
        "--seeds",
        "2",
        "--per-seed",
        "10",
        "--n-boot",
        "50",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "skipped perturber polyjuice: huggingface.co is unreachable" in printed
    assert "[samples] explanation quality" in printed and "Kendall's tau" in printed
    quality = pd.read_csv(out / "quality.csv")
    assert set(quality["perturber"]) == {"rules", "random"}
    assert set(quality["rm"]) == {"planted", "transparent"}
    assert set(quality["seed"]) == {0, 1}
    tau = pd.read_csv(out / "tau.csv")
    assert len(tau) == 4 and set(tau["dataset"]) == {"samples"}
    study = json.loads((out / "study.json").read_text())
    assert study["skipped"] == {"polyjuice": "huggingface.co is unreachable"}
    assert study["baselines"] == ["random", "polyjuice"]
    assert (out / "report.html").exists()
    assert main(argv) == 0  # resumed from the store
    pd.testing.assert_frame_equal(pd.read_csv(out / "quality.csv"), quality)


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--rm", "transparent:hedging"], "is not feature=weight"),
        (["--rm", "transparent:nonsense=1"], "unknown feature"),
        (["--rm", "transparent", "--perturber", "warp"], "unknown kind 'warp'"),
        (["--rm", "transparent", "--perturber", "random:lots"], "fraction must be a number"),
        (["--rm", "transparent", "--perturber", "paraphrase"], "needs --model"),
        (["--rm", "transparent", "--rm", "transparent"], "both named 'transparent'"),
    ],
)
def test_evaluate_bad_specs_exit_2(tmp_path, capsys, extra, needle):
    argv = ["evaluate", "--data", SAMPLES, "--out", str(tmp_path / "s"), *extra]
    if "--perturber" not in extra:
        argv += ["--perturber", "rules"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_evaluate_llm_and_paraphrase_against_a_local_server(tmp_path, capsys, monkeypatch, server):
    """The LLM perturber and its attribute-free paraphrase baseline, through `rmx evaluate`,
    against a local OpenAI-compatible server: both run, and only the attribute prompt names
    an attribute."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "llm"
    assert (
        main(
            [
                "evaluate",
                "--data",
                SAMPLES,
                "--limit",
                "6",
                "--rm",
                "transparent",
                "--perturber",
                "llm",
                "--perturber",
                "paraphrase",
                "--model",
                "fake-model",
                "--base-url",
                server.url,
                "--attributes",
                "verbosity,manner",
                "--seeds",
                "2",
                "--per-seed",
                "4",
                "--n-boot",
                "20",
                "--no-report",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    texts = [r.user_text for r in server.requests]
    quality = pd.read_csv(out / "quality.csv")
    assert set(quality["perturber"]) == {"llm:fake-model", "paraphrase"}
    study = json.loads((out / "study.json").read_text())
    assert study["baselines"] == ["paraphrase"] and study["primary"] == "llm:fake-model"
    assert study["perturbers"]["paraphrase"].endswith(":paraphrase-v2")
    attribute_prompts = [t for t in texts if "Quality: " in t]
    explained = {c for ids in study["samples"]["sample_comparisons"].values() for c in ids}
    # each sampled comparison × 2 attributes × 2 sides, for each of the two perturbers
    assert len(attribute_prompts) == 4 * len(explained) and len(texts) == 8 * len(explained)
    assert "OPENAI_API_KEY" not in (out / "study.json").read_text()


def _explain_argv(out, *extra):
    return [
        "explain",
        "--data",
        SAMPLES,
        "--limit",
        "3",
        "--rm",
        "transparent",
        "--attributes",
        "verbosity,manner",
        "--no-report",
        "--out",
        str(out),
        *extra,
    ]


def test_explain_null_random_with_a_seed_and_none(tmp_path, capsys, monkeypatch):
    out = tmp_path / "x"
    assert main(_explain_argv(out, "--null-seed", "5")) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["null_perturber"].startswith("random-words:v1:f0.15:s5:")
    assert f"Null perturber {summary['null_perturber']} (attribute-blind)" in printed
    null = pd.read_parquet(out / "null_table.parquet")
    # 3 comparisons (no ties for this RM) x 2 attributes x 2 directions
    assert len(null) == len(pd.read_parquet(out / "table.parquet")) == 12
    assert set(null["perturber"]) == {summary["null_perturber"]}

    # `rmx report` reads the null beside the table
    seen = []
    real = result_module.sensitivity_with_null

    def spy(table, null, **kw):
        seen.append(null)
        return real(table, null, **kw)

    monkeypatch.setattr(result_module, "sensitivity_with_null", spy)
    report = ["report", "--table", str(out / "table.parquet"), "--out", str(tmp_path / "r.html")]
    assert main(report) == 0
    assert len(seen) == 1 and len(seen[0]) == 12

    none = tmp_path / "none"
    assert main(_explain_argv(none, "--null", "none")) == 0
    assert "Null perturber: skipped (--null none)." in capsys.readouterr().out
    assert not (none / "null_table.parquet").exists()


def test_explain_null_that_is_the_perturber_is_skipped(tmp_path, capsys):
    out = tmp_path / "x"
    assert main(_explain_argv(out, "--perturber", "random")) == 0
    printed = capsys.readouterr().out
    assert "Null perturber: skipped (the null perturber is the perturber itself" in printed
    assert not (out / "null_table.parquet").exists()


def test_explain_null_paraphrase_needs_a_model(tmp_path, capsys):
    assert main(_explain_argv(tmp_path / "o", "--null", "paraphrase")) == 2
    err = capsys.readouterr().err
    assert "--null paraphrase needs --model" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_explain_null_paraphrase_reuses_the_llm(tmp_path, capsys, monkeypatch, server):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "x"
    argv = _explain_argv(out, "--perturber", "llm", "--model", "fake-model")
    argv += ["--base-url", server.url, "--null", "paraphrase", "--limit", "1"]
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["null_perturber"].endswith(":paraphrase-v2")
    assert summary["perturber"].endswith(":prompt-v2")
    null = pd.read_parquet(out / "null_table.parquet")
    assert len(null) == 4 and set(null["perturber"]) == {summary["null_perturber"]}


# -- one spec vocabulary: each subcommand takes the other's forms --------------------------


def test_explain_takes_the_study_specs(tmp_path):
    out = tmp_path / "x"
    assert (
        main(
            [
                "explain",
                "--data",
                SAMPLES,
                "--limit",
                "5",
                "--rm",
                PLANTED,
                "--perturber",
                "noise=random:0.3",
                "--attributes",
                "verbosity",
                "--no-report",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rm"].startswith("planted:w")  # NAME, then the weights' digest
    assert summary["perturber"].startswith("random-words:v1:f0.3:")


@pytest.mark.parametrize(
    "perturber",
    [
        ["--perturber", "llm"],
        ["--perturber", "openai"],
        ["--perturber", "llm", "--backend", "openai"],
    ],
)
def test_explain_llm_and_its_openai_alias_are_one_perturber(
    tmp_path, server, monkeypatch, perturber
):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "x"
    assert (
        main(
            [
                "explain",
                "--data",
                SAMPLES,
                "--limit",
                "3",
                "--rm",
                "transparent",
                *perturber,
                "--model",
                "fake-model",
                "--base-url",
                server.url,
                "--concurrency",
                "2",
                "--attributes",
                "verbosity",
                "--no-report",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["perturber"].startswith("openai:fake-model@127.0.0.1:")
    assert server.requests and all(r.body["model"] == "fake-model" for r in server.requests)


def test_evaluate_takes_the_explain_alias(tmp_path, server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "s"
    assert (
        main(
            [
                "evaluate",
                "--data",
                SAMPLES,
                "--limit",
                "4",
                "--rm",
                "transparent",
                "--perturber",
                "openai",
                "--model",
                "fake-model",
                "--base-url",
                server.url,
                "--attributes",
                "verbosity",
                "--seeds",
                "1",
                "--per-seed",
                "2",
                "--n-boot",
                "10",
                "--no-report",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert set(pd.read_csv(out / "quality.csv")["perturber"]) == {"llm:fake-model"}


@pytest.mark.parametrize(
    "argv_tail, needle",
    [
        (["--perturber", "warp"], "unknown kind 'warp'"),
        (
            ["--perturber", "hf", "--backend", "openai", "--model", "m"],
            "'hf' runs on the hf backend, but backend 'openai' was asked for",
        ),
        (["--perturber", "llm"], "needs --model"),
        (["--rm", "transparent:hedging"], "is not feature=weight"),
    ],
)
def test_explain_bad_specs_exit_2(tmp_path, capsys, argv_tail, needle):
    argv = ["explain", "--data", SAMPLES, "--out", str(tmp_path / "o")]
    if "--rm" not in argv_tail:
        argv += ["--rm", "transparent"]
    assert main(argv + argv_tail) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err and not (tmp_path / "o").exists()


def test_explain_and_evaluate_share_their_common_flags():
    import argparse

    from rmx_widgets.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))

    def flags(command):
        return {
            a.option_strings[0]: (a.default, a.type, a.choices)
            for a in sub.choices[command]._actions
            if a.option_strings
        }

    explain, evaluate = flags("explain"), flags("evaluate")
    shared = {
        "--model",
        "--backend",
        "--base-url",
        "--concurrency",
        "--device",
        "--dtype",
        "--max-length",
        "--trust-remote-code",
        "--attributes",
        "--attributes-file",
        "--store",
        "--limit",
        "--batch-size",
        "--embedder",
        "--no-report",
    }
    assert shared <= set(explain) & set(evaluate)
    assert {f: explain[f] for f in shared} == {f: evaluate[f] for f in shared}
