"""The configs' interpolations: derived sizes follow the sizes they come from."""

from pathlib import Path

from tests.conftest import make_config


def test_config_interpolations_are_checked(tmp_path):
    cfg = make_config(
        tmp_path, ["experiment=kws_synthetic", "decoder.hidden=32", "decoder.bidirectional=false"]
    )
    assert cfg.decoder.out_dim == 32 and cfg.head.input_dim == 32 and cfg.head.num_classes == 35
    cfg = make_config(tmp_path, ["experiment=kws_synthetic", "frontend=mfcc"])
    assert cfg.encoder.input_dim == cfg.frontend.featurizer.n_mfcc == 40


def test_presets_that_synthesise_into_one_folder_synthesise_the_same_corpus(tmp_path):
    """A corpus folder is rebuilt whenever its settings change, so two presets that
    named one folder with different settings would replace each other's corpus (and
    feature cache) on every run."""
    from omegaconf import OmegaConf

    from seqrec.config import conf_dir

    corpora: dict[str, tuple[str, dict]] = {}
    for path in sorted((Path(conf_dir()) / "experiment").glob("*.yaml")):
        cfg = make_config(tmp_path / path.stem, [f"experiment={path.stem}"])
        prepare = cfg.data.get("prepare")
        if (
            prepare is None
            or "_target_" not in prepare
            or not prepare._target_.startswith("seqrec.synth")
        ):
            continue  # a real dataset's preparer, or none
        settings = OmegaConf.to_container(prepare, resolve=True)
        root = settings.pop("root")
        if root in corpora:
            other, other_settings = corpora[root]
            assert settings == other_settings, (
                f"{path.stem} and {other} synthesise different corpora into {root}"
            )
        corpora[root] = (path.stem, settings)
    assert len(corpora) >= 4  # the synthetic presets were all read
