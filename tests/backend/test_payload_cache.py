"""The payload cache: byte-bounded LRU, ETag matching, and a fingerprint that changes with every state a payload reads.

Fingerprints are checked on both dialects against writes through the services the workers use.
"""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session
from tricklab.db.models import Run
from tricklab.reporting import MetricPoint
from tricklab.services import leases, metrics, payload_cache
from tricklab.services.payload_cache import PayloadCache, etag_matches, fingerprint, make_etag

from tests.backend.store_helpers import RecordingCelery, create_experiment, run_ids


def test_cache_returns_a_body_only_for_the_etag_it_was_stored_under() -> None:
    cache = PayloadCache(max_bytes=100)
    cache.put("a", '"1"', b"x" * 10)
    assert cache.get("a", '"1"') == b"x" * 10
    assert cache.get("a", '"2"') is None and cache.get("b", '"1"') is None
    cache.put("a", '"2"', b"y" * 20)  # a newer state replaces the older one
    assert cache.get("a", '"1"') is None and cache.get("a", '"2"') == b"y" * 20
    assert (len(cache), cache.size) == (1, 20)


def test_cache_evicts_the_least_recently_used_beyond_its_budget() -> None:
    cache = PayloadCache(max_bytes=100)
    for k in "abc":
        cache.put(k, "e", k.encode() * 40)
    assert cache.get("a", "e") is None  # 120 bytes > 100: the oldest went
    assert cache.get("b", "e") == b"b" * 40  # b is now the most recently used
    cache.put("d", "e", b"d" * 40)
    assert cache.get("c", "e") is None and cache.get("b", "e") is not None and cache.get("d", "e") is not None
    cache.put("huge", "e", b"h" * 101)  # larger than the whole budget: not kept, nothing else evicted
    assert cache.get("huge", "e") is None and len(cache) == 2 and cache.size == 80
    cache.clear()
    assert (len(cache), cache.size) == (0, 0)


def test_if_none_match_parsing() -> None:
    tag = '"abc"'
    assert etag_matches('"abc"', tag) and etag_matches('W/"abc"', tag)
    assert etag_matches('"x", "abc"', tag) and etag_matches("*", tag)
    assert not etag_matches(None, tag) and not etag_matches("", tag) and not etag_matches('"abd"', tag)


def test_etag_depends_on_kind_experiment_parameters_and_state() -> None:
    base = make_etag("curves", 1, ("train_loss", 200, None), b"state")
    assert base == make_etag("curves", 1, ("train_loss", 200, None), b"state")
    others = [
        make_etag("analysis", 1, ("train_loss", 200, None), b"state"),
        make_etag("curves", 2, ("train_loss", 200, None), b"state"),
        make_etag("curves", 1, ("train_loss", 100, None), b"state"),
        make_etag("curves", 1, ("train_loss", 200, None), b"state2"),
    ]
    assert base not in others and base.startswith('"') and base.endswith('"')


def _fp(db_session: Session, exp_id: int, keys: list[str], finals: bool = False) -> bytes:
    return fingerprint(db_session=db_session, experiment_id=exp_id, curve_keys=keys, final_metrics=finals)


def _write(db_session: Session, run_id: int, key: str, steps: range, attempt: int = 0) -> None:
    points = [MetricPoint(key, s, 1.0 / (s + 1), float(s)) for s in steps]
    metrics.log_metrics(db_session=db_session, run_id=run_id, attempt=attempt, points=points)


def test_fingerprint_follows_metric_writes_of_its_keys_only(db_session: Session, celery_app: RecordingCelery) -> None:
    exp = create_experiment(db_session, celery_app)
    rid = run_ids(db_session, exp)[0]
    empty = _fp(db_session, exp, ["train_loss"])
    assert _fp(db_session, exp, ["train_loss"]) == empty  # stable while nothing changes
    _write(db_session, rid, "train_loss", range(100))
    first = _fp(db_session, exp, ["train_loss"])
    assert first != empty
    _write(db_session, rid, "train_loss", range(50, 100))  # re-sent points are ignored by the store
    assert _fp(db_session, exp, ["train_loss"]) == first
    _write(db_session, rid, "train_loss", range(100, 101))  # one new point
    assert _fp(db_session, exp, ["train_loss"]) != first
    lr = _fp(db_session, exp, ["lr"])
    _write(db_session, rid, "train_loss", range(101, 300))
    assert _fp(db_session, exp, ["lr"]) == lr  # another key's curve did not change
    assert _fp(db_session, exp, ["lr", "train_loss"]) != _fp(db_session, exp, ["lr"])


def test_fingerprint_follows_runs_and_final_metrics(db_session: Session, celery_app: RecordingCelery) -> None:
    exp = create_experiment(db_session, celery_app)
    other = create_experiment(db_session, celery_app)
    rid = run_ids(db_session, exp)[0]
    assert _fp(db_session, exp, []) != _fp(db_session, other, [])
    before, before_finals = _fp(db_session, exp, []), _fp(db_session, exp, [], finals=True)
    leases.upsert_final_metrics(db_session, rid, {"test_accuracy": 0.5})
    assert _fp(db_session, exp, []) == before  # curves do not read final metrics
    after_finals = _fp(db_session, exp, [], finals=True)
    assert after_finals != before_finals
    leases.upsert_final_metrics(db_session, rid, {"test_accuracy": 0.6})  # same rows, new value
    assert _fp(db_session, exp, [], finals=True) != after_finals
    for change in ({"status": "running"}, {"attempt": 1}, {"error": "boom"}):
        old = _fp(db_session, exp, [])
        db_session.execute(update(Run).where(Run.id == rid).values(**change))
        assert _fp(db_session, exp, []) != old, change


def test_etags_of_another_build_do_not_match(monkeypatch: pytest.MonkeyPatch) -> None:
    assert payload_cache._code_version() == payload_cache.CODE_VERSION  # the same source, the same digest
    tag = make_etag("curves", 1, ("train_loss", 200, None), b"state")
    monkeypatch.setattr(payload_cache, "CODE_VERSION", "another build")
    assert make_etag("curves", 1, ("train_loss", 200, None), b"state") != tag
