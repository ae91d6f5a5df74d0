"""seqrec-streams: long test streams for keyword detection, keywords at known times
(:mod:`seqrec.data.streams`: ``streams.jsonl``, the wavs, ``streams_stats.json``).

seqrec-streams
    seqrec-streams source=speech_commands root=/data/speech_commands_v0.02
    seqrec-streams streams=2 stream_seconds=60 out=/tmp/streams

``source`` picks the builder: ``synthetic`` (the default) is
:class:`~seqrec.synth.streams.SyntheticStreams`, eSpeak NG's test voices of the
keyword corpus, into ``${paths.data_dir}/kws_streams``; ``speech_commands`` is
:class:`~seqrec.data.speech_commands_streams.SpeechCommandsStreams`, the dataset's
test clips, into ``${paths.data_dir}/speech_commands_streams``. Each is a ``_target_`` under
``sources`` in ``conf/streams.yaml``; the settings they share are top-level keys.
A corpus whose settings match is reused.
"""

import hydra
from omegaconf import DictConfig

from seqrec.config import conf_dir, register_resolvers

register_resolvers()


def build(cfg: DictConfig) -> dict:
    """Build (or reuse) the streams of ``cfg.source``; their statistics."""
    import json
    from pathlib import Path

    from hydra.utils import instantiate

    from seqrec.core.waveform import AudioError
    from seqrec.data.prepared import DatasetLayoutError
    from seqrec.data.streams import MANIFEST, STATS

    if cfg.source not in cfg.sources:
        raise SystemExit(
            f"seqrec-streams: source must be one of {', '.join(cfg.sources)}, not {cfg.source!r}"
        )
    if cfg.source == "speech_commands" and cfg.root is None:
        raise SystemExit(
            "seqrec-streams: source=speech_commands needs root=<the speech_commands_v0.02 folder>"
        )
    try:
        out = Path(instantiate(cfg.sources[cfg.source])())
    except (DatasetLayoutError, AudioError, ValueError) as e:
        raise SystemExit(f"seqrec-streams: {e}") from None
    stats = json.loads((out / STATS).read_text())
    print(f"{out / MANIFEST}: {stats['streams']} streams, {stats['hours']} h")
    print(json.dumps(stats, indent=2))
    return stats


@hydra.main(version_base="1.3", config_path=conf_dir(), config_name="streams")
def main(cfg: DictConfig) -> None:
    build(cfg)


if __name__ == "__main__":
    main()
