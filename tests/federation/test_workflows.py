"""Workflows (spec/federation.md §7): the SDK's workflow YAML with a `dispatch_to` phase, run
by two of our servers on loopback."""

from __future__ import annotations

import textwrap

import pytest
import yaml
from openintent import OpenIntentClient
from openintent.models import IntentStatus
from openintent.workflow import WorkflowSpec

from tests.support import run_server

from .helpers import free_port, wait_for, write_config

PIPELINE = """\
openintent: "1.0"
info:
  name: quarterly-report
  description: collect here, analyse at the partner, report here
workflow:
  collect_data:
    assign: collector
    constraints: ["public data only"]
    initial_state: {{region: emea}}
  analyse:
    title: Analyse it
    assign: analyst
    depends_on: [collect_data]
    dispatch_to: "{partner}"
    delegation_scope:
      permissions: [state.patch, status.update, events.log]
    federation_visibility: public
  report:
    assign: writer
    depends_on: [Analyse it]
"""


def sdk(live, agent: str = "operator") -> OpenIntentClient:
    return OpenIntentClient(base_url=live.url, api_key=live.api_key, agent_id=agent)


def run_workflow(live, document: dict):
    with live.client() as api:
        return api.post("/api/v1/workflows", json=document)


def workflow(live, workflow_id: str) -> dict:
    with live.client() as api:
        return api.get(f"/api/v1/workflows/{workflow_id}").json()


def phases(view: dict) -> dict[str, dict]:
    return {p["name"]: p for p in view["phases"]}


def test_a_dispatched_phase_runs_at_the_peer_and_unblocks_what_follows(pair):
    a, b = pair
    text = PIPELINE.format(partner=b.url)
    assert [p.name for p in WorkflowSpec.from_string(text).phases] == [
        "collect_data",
        "analyse",
        "report",
    ]  # the SDK loads the same file (it ignores our keys)
    created = run_workflow(a, yaml.safe_load(text))
    assert created.status_code == 201, created.text
    view = created.json()
    steps = phases(view)
    assert [p["name"] for p in view["phases"]] == ["collect_data", "analyse", "report"]
    assert steps["collect_data"]["status"] == "active"
    assert steps["analyse"]["status"] == "blocked"
    assert steps["analyse"]["dispatch_to"] == b.url
    assert steps["report"]["depends_on"] == ["analyse"]  # named by its title in the file
    collect = sdk(a).get_intent(steps["collect_data"]["intent_id"])
    assert collect.constraints == {"rules": ["public data only"]}
    assert collect.state.to_dict() == {"region": "emea"}

    # Nothing is sent before its dependency completes.
    assert steps["analyse"]["dispatch_id"] is None
    collector = sdk(a, "collector")
    collector.set_status(collect.id, collect.version, IntentStatus.COMPLETED)

    sent = wait_for(
        lambda: (
            (p := phases(workflow(a, view["workflow_id"]))["analyse"])["dispatch_status"]
            in ("delivered", "accepted")
            and p
        )
    )
    assert sent["status"] == "active"
    with a.client() as api:
        record = api.get(f"/api/v1/federation/dispatches/{sent['dispatch_id']}").json()
    remote_id = record["remote_intent_id"]

    # B's agent, bound by the phase's delegation scope, does the work and completes it.
    analyst = sdk(b, "analyst")
    remote = analyst.get_intent(remote_id)
    assert remote.title == "Analyse it"
    patched = analyst.update_state(remote_id, remote.version, {"margin": 0.12})
    analyst.set_status(remote_id, patched.version, IntentStatus.COMPLETED)

    done = wait_for(
        lambda: (
            (s := phases(workflow(a, view["workflow_id"])))["report"]["status"] == "active" and s
        )
    )
    assert done["analyse"]["status"] == "completed"
    assert done["analyse"]["dispatch_status"] == "completed"
    merged = sdk(a).get_intent(done["analyse"]["intent_id"])
    assert merged.state.to_dict()["margin"] == 0.12  # state.patch was granted
    with a.client() as api:
        report = api.get(f"/api/v1/intents/{done['report']['intent_id']}").json()
        placeholder = api.get(f"/api/v1/intents/{sent['intent_id']}").json()
    assert report["agents"] == ["writer"]
    assert placeholder["agents"] == []  # the dispatched phase's agent is B's
    events = sdk(a).get_events(report["id"])
    unblocked = [e for e in events if e.event_type.value == "status_changed"]
    assert unblocked[-1].payload["new_status"] == "active"


@pytest.mark.parametrize(
    ("phases_yaml", "message"),
    [
        ("a: {assign: x, depends_on: [nope]}", "which is no phase"),
        ("a: {assign: x, depends_on: [b]}\n  b: {assign: x, depends_on: [a]}", "cycle"),
        ("a: {assign: x, dispatch_to: 'did:web:unknown.example'}", "no configured peer"),
        ("a: {assign: x, dispatch_to: 'ftp://partner.example'}", "dispatch_to"),
        ("a: {title: no agent}", "assign"),
    ],
)
def test_a_bad_workflow_is_a_400_that_creates_nothing(pair, phases_yaml, message):
    a, _ = pair
    text = f"openintent: '1.0'\ninfo: {{name: bad}}\nworkflow:\n  {phases_yaml}\n"
    answer = run_workflow(a, yaml.safe_load(text))
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["detail"]
    assert answer.json()["message"]
    assert sdk(a).list_intents() == []


def test_without_federation_local_phases_run_and_dispatch_to_is_refused(databases):
    text = textwrap.dedent(
        """\
        openintent: "1.0"
        info: {name: local}
        workflow:
          first: {assign: one}
          second: {assign: two, depends_on: [first]}
        """
    )
    with run_server(databases("local")) as live:
        view = run_workflow(live, yaml.safe_load(text)).json()
        steps = phases(view)
        first = sdk(live, "one").get_intent(steps["first"]["intent_id"])
        sdk(live, "one").set_status(first.id, first.version, IntentStatus.COMPLETED)
        assert wait_for(
            lambda: phases(workflow(live, view["workflow_id"]))["second"]["status"] == "active"
        )
        remote = text.replace("{assign: two,", "{assign: two, dispatch_to: 'http://x.example',")
        answer = run_workflow(live, yaml.safe_load(remote))
        assert answer.status_code == 400
        assert "federation is not enabled" in answer.json()["detail"]


def test_the_workflow_command_sends_the_file_and_lists_the_phases(tmp_path, databases, capsys):
    from openintent_tui.cli import main

    path = tmp_path / "flow.yaml"
    path.write_text("openintent: '1.0'\ninfo: {name: cli}\nworkflow:\n  only: {assign: me}\n")
    with run_server(databases("cli")) as live:
        main(["workflow", "run", str(path), "--server", live.url, "--api-key", live.api_key])
        out = capsys.readouterr().out
        assert out.startswith("workflow ") and " cli\n" in out
        assert "only" in out and "active" in out
        (intent,) = sdk(live).list_intents()
        assert intent.title == "Only"
        path.write_text("openintent: '1.0'\ninfo: {name: cli}\nworkflow:\n  only: {}\n")
        with pytest.raises(SystemExit) as failed:
            main(["workflow", "run", str(path), "--server", live.url, "--api-key", live.api_key])
        assert "HTTP 400" in str(failed.value.code)


def test_a_dispatched_phase_is_sent_once_across_a_restart(tmp_path, databases):
    a_port = free_port()
    a_url = f"http://127.0.0.1:{a_port}"
    b_config = write_config(tmp_path / "b.yaml", f'federation:\n  peers: ["{a_url}"]\n')

    def remote_only(b_url: str, name: str) -> dict:
        text = f"openintent: '1.0'\ninfo: {{name: {name}}}\nworkflow:\n"
        text += f"  away: {{assign: analyst, dispatch_to: '{b_url}'}}\n"
        return yaml.safe_load(text)

    def dispatches_of(live, intent_id: str) -> list[dict]:
        with live.client() as api:
            rows = api.get("/api/v1/federation/dispatches", params={"limit": 100}).json()
        return [d for d in rows["dispatches"] if d["intent_id"] == intent_id]

    with run_server(databases("b"), federation_enabled=True, federation_config=b_config) as b:
        with run_server(databases("a"), a_port, federation_enabled=True) as a:
            first = run_workflow(a, remote_only(b.url, "first")).json()
            (away,) = first["phases"]
            assert wait_for(lambda: dispatches_of(a, away["intent_id"]))  # no dependencies
        with run_server(databases("a"), a_port, federation_enabled=True) as a:
            # The restarted runner has done a full pass once the next workflow is sent.
            second = run_workflow(a, remote_only(b.url, "second")).json()
            assert wait_for(lambda: dispatches_of(a, second["phases"][0]["intent_id"]))
            assert len(dispatches_of(a, away["intent_id"])) == 1
            assert workflow(a, first["workflow_id"])["phases"][0]["dispatch_id"]


def test_a_phase_abandoned_while_it_waits_is_not_dispatched(pair):
    a, b = pair
    text = f"""\
openintent: '1.0'
info: {{name: called-off}}
workflow:
  first: {{assign: one}}
  away: {{assign: analyst, depends_on: [first], dispatch_to: '{b.url}'}}
"""
    steps = phases(run_workflow(a, yaml.safe_load(text)).json())
    operator = sdk(a)
    away = operator.get_intent(steps["away"]["intent_id"])
    operator.set_status(away.id, away.version, IntentStatus.ABANDONED, reason="not needed")
    first = operator.get_intent(steps["first"]["intent_id"])
    operator.set_status(first.id, first.version, IntentStatus.COMPLETED)
    # The runner has passed over `away` once a later workflow's phase has been dispatched.
    later = text.replace("called-off", "later").replace("depends_on: [first], ", "")
    later_id = run_workflow(a, yaml.safe_load(later)).json()["workflow_id"]
    assert wait_for(lambda: phases(workflow(a, later_id))["away"]["dispatch_id"])
    with a.client() as api:
        sent = api.get("/api/v1/federation/dispatches", params={"limit": 100}).json()
    assert away.id not in {d["intent_id"] for d in sent["dispatches"]}
    assert operator.get_intent(away.id).status == IntentStatus.ABANDONED


def test_dispatch_to_may_name_a_configured_peer_by_its_did(tmp_path, databases):
    with run_server(databases("b"), federation_enabled=True) as b:
        b_did = b.url.replace("http://", "did:web:")
        a_config = write_config(
            tmp_path / "a.yaml",
            f'federation:\n  peers:\n    - url: "{b.url}"\n      did: "{b_did}"\n',
        )
        with run_server(databases("a"), federation_enabled=True, federation_config=a_config) as a:
            text = "openintent: '1.0'\ninfo: {name: by-did}\nworkflow:\n"
            text += f"  away: {{assign: analyst, dispatch_to: '{b_did}'}}\n"
            view = run_workflow(a, yaml.safe_load(text)).json()
            assert view["phases"][0]["dispatch_to"] == b.url
            sent = wait_for(lambda: phases(workflow(a, view["workflow_id"]))["away"]["dispatch_id"])
            with a.client() as api:
                record = api.get(f"/api/v1/federation/dispatches/{sent}").json()
            assert record["target_server"] == b.url and record["target_did"] == b_did
