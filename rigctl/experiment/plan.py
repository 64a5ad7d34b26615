"""An experiment checked against its rigs: everything that can be refused is refused here.

Before any rig opens: every rig config loads, every protocol resolves and its parameters
validate, no subject is listed twice, no rig config is used twice, no two subjects share a rig
(two configs naming the same rig) or a serial port. Each problem is one line naming the
experiment file's field (``subjects.1.rig``) and what to do; all of them are reported at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from rigctl.config.rig import RigConfig
from rigctl.engine.remote import StartRequest
from rigctl.errors import ConfigError, RigctlError
from rigctl.experiment.config import ExperimentConfig, SubjectEntry, read_experiment
from rigctl.protocols.spec import ProtocolSpec


@dataclass(frozen=True)
class RigPlan:
    """One subject on one rig, ready to start."""

    entry: SubjectEntry
    config_path: Path
    cfg: RigConfig
    spec: ProtocolSpec
    data_root: Path
    realtime: bool
    summary_figure: bool
    duration_s: float | None = None

    @property
    def subject(self) -> str:
        return self.entry.id

    @property
    def rig(self) -> str:
        return self.cfg.name

    def request(self) -> StartRequest:
        """What the engine child needs (the protocol by file or name, parameters in full)."""
        e, spec = self.entry, self.spec
        protocol = spec.file.path if spec.file is not None else spec.name
        return StartRequest(
            config=str(self.config_path), protocol=protocol,
            params=spec.params.model_dump(mode="json"),
            subject={"id": e.id, "genotype": e.genotype, "treatment": e.treatment},
            data_root=str(self.data_root), seed=e.seed, realtime=self.realtime,
            summary_figure=self.summary_figure, duration_s=self.duration_s,
            lock=False,  # the experiment holds every subject's and rig's lock itself
        )


@dataclass(frozen=True)
class ExperimentPlan:
    source: str
    config: ExperimentConfig
    rigs: list[RigPlan]

    def find(self, subject: str) -> RigPlan | None:
        return next((r for r in self.rigs if r.subject == subject), None)


def _resolve(base: Path, path: str) -> Path:
    p = Path(path).expanduser()
    return (p if p.is_absolute() else base / p).resolve()


def _simulated_only(cfg: RigConfig) -> bool:
    return all(dev.type == "sim" for dev in cfg.devices.values())


def load_plan(path: str | Path) -> ExperimentPlan:
    """Read and check the experiment file; ConfigError with one line per problem."""
    from rigctl.catalog.loading import resolve_protocol
    from rigctl.config import load_rig
    from rigctl.config.loading import validate

    source = str(path)
    exp = read_experiment(path)
    base = Path(path).resolve().parent
    problems: list[str] = []
    seen_ids: dict[str, int] = {}
    seen_files: dict[Path, int] = {}
    seen_rigs: dict[str, int] = {}
    seen_ports: dict[str, int] = {}
    rigs: list[RigPlan] = []
    for i, e in enumerate(exp.subjects):
        here = f"subjects.{i}"
        if e.id in seen_ids:
            problems.append(f"{here}.id: subject {e.id} is listed twice (also subjects."
                            f"{seen_ids[e.id]}); one subject runs on one rig at a time")
            continue
        seen_ids[e.id] = i
        config_path = _resolve(base, e.rig)
        if config_path in seen_files:
            j = seen_files[config_path]
            problems.append(f"{here}.rig: rig config {e.rig} is already used by subject "
                            f"{exp.subjects[j].id} (subjects.{j}); one rig runs one subject: "
                            "give each subject its own rig config")
            continue
        seen_files[config_path] = i
        try:
            cfg = load_rig(str(config_path))
        except ConfigError as exc:
            problems.extend(f"{here}.rig: {exc.source}: {p}" for p in exc.problems)
            continue
        if cfg.name in seen_rigs:
            j = seen_rigs[cfg.name]
            problems.append(f"{here}.rig: two subjects on one rig: {e.rig} names rig "
                            f"{cfg.name!r}, as subjects.{j}.rig ({exp.subjects[j].rig}) does "
                            f"(subject {exp.subjects[j].id}); give each box its own `name:`")
            continue
        seen_rigs[cfg.name] = i
        clash = False
        for dev_name, dev in cfg.devices.items():
            port = getattr(dev, "port", None)
            if isinstance(port, str) and port != "emulated":
                if port in seen_ports:
                    j = seen_ports[port]
                    problems.append(f"{here}.rig: {e.rig}: devices.{dev_name}.port {port} is "
                                    f"also used by subjects.{j}.rig ({exp.subjects[j].rig}); "
                                    "two rigs cannot share a serial port")
                    clash = True
                seen_ports[port] = i
        if clash:
            continue
        try:
            protocol = str(_resolve(base, e.protocol)) if e.protocol and (
                e.protocol.endswith((".py", ".yaml", ".yml"))) else e.protocol
            spec = resolve_protocol(protocol, cfg, str(config_path))
            if e.parameters:  # over the protocol's own values, named as this file's field
                params = validate(spec.cls.Params,
                                  {**spec.params.model_dump(), **e.parameters}, source,
                                  prefix=f"{here}.parameters")
                spec = dataclasses.replace(spec, params=params,
                                           source=f"{source} ({here}.parameters)")
        except ConfigError as exc:
            problems.extend(p if exc.source == source else f"{here}: {exc.source}: {p}"
                            for p in exc.problems)
            continue
        except RigctlError as exc:
            problems.extend(f"{here}.protocol: {line}" for line in str(exc).splitlines())
            continue
        root = e.data_root or exp.data_root
        # the experiment's folders are relative to it; a rig config's, as in `rigctl run`,
        # to the working directory
        data_root = _resolve(base, root) if root else Path(cfg.data_root).expanduser().resolve()
        rigs.append(RigPlan(entry=e, config_path=config_path, cfg=cfg, spec=spec,
                            data_root=data_root,
                            realtime=exp.realtime or not _simulated_only(cfg),
                            summary_figure=exp.summary_figure, duration_s=exp.duration_s))
    if problems:
        raise ConfigError(source, problems)
    return ExperimentPlan(source=source, config=exp, rigs=rigs)
