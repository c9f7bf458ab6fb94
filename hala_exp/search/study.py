"""The optuna study of a search: a journal file in the sweep directory, one driver at a time.

optuna's JournalFileBackend appends each trial event to one file with a lock that works on NFS, so
the study lives beside the trials on the shared filesystem and survives any kill of the driver. The
search's definition (objectives, space, sampler, the command's fixed overrides) is stored with it:
the same command resumes the study, another one in the same directory is refused.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hala_exp.config.errors import ConfigError

JOURNAL = "study.journal"
LOCK = "search.lock"
STUDY = "search"


@contextmanager
def driver_lock(sweep_dir: Path) -> Iterator[None]:
    """Held while this process drives the search: a second driver would see this one's running
    trials as killed and run them again. The kernel drops the lock when the process dies."""
    path = sweep_dir / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = Path(path).read_text(encoding="utf-8").strip() or "another process"
            raise ConfigError(f"hydra.sweep.dir = {str(sweep_dir)!r}: this search is being run by {holder}. "
                              "Fix: wait for it, or stop it and run the command again to resume") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {os.uname().nodename}\n".encode())
        yield
    finally:
        os.close(fd)


def open_study(sweep_dir: Path, definition: dict[str, Any], sampler: Any, directions: list[str]) -> Any:
    """Create the study, or load it when the journal holds one of the same definition."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(sweep_dir / JOURNAL)))
    study = optuna.create_study(storage=storage, study_name=STUDY, sampler=sampler, directions=directions,
                                load_if_exists=True)
    stored = study.user_attrs.get("definition")
    if stored is None:
        study.set_user_attr("definition", definition)
    elif stored != definition:
        differs = sorted(k for k in {*stored, *definition} if stored.get(k) != definition.get(k))
        raise ConfigError(f"hydra.sweep.dir = {str(sweep_dir)!r}: it holds a search with other {', '.join(differs)} "
                          f"(stored: {', '.join(f'{k}={stored.get(k)!r}' for k in differs)}). Fix: run that "
                          "search's own command to resume it, or give this one another hydra.sweep.dir")
    return study


def requeue_unfinished(study: Any) -> list[int]:
    """Trials left running by a driver that is gone (killed, Ctrl-C, a failed step) are failed and
    their values queued again, so the next trials asked for run them first. Returns their numbers."""
    from optuna.trial import TrialState

    numbers = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(t.number, state=TrialState.FAIL)
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
        numbers.append(t.number)
    return numbers


def completed(study: Any) -> list[Any]:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
