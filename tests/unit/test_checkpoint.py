import json
import shutil

import pytest
import torch

from arcus_desktop.core.errors import CheckpointShapeError, CorruptFileError, ModelNotFoundError
from arcus_desktop.engine import checkpoint, model, testkit
from arcus_desktop.engine.engine import Engine


def _copy(tiny_model, tmp_path):
    dst = tmp_path / "model"
    shutil.copytree(tiny_model, dst)
    return dst


def test_missing_folder_and_missing_files(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        checkpoint.locate(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="model.safetensors") as err:
        checkpoint.locate(tmp_path / "empty")
    assert "download" in err.value.hint


def test_no_model_installed_says_how_to_get_it():
    with pytest.raises(ModelNotFoundError) as err:
        checkpoint.locate()
    assert "arcus-desktop download" in err.value.hint


def test_truncated_weights_are_caught_before_loading(tiny_model, tmp_path):
    root = _copy(tiny_model, tmp_path)
    data = (root / "model.safetensors").read_bytes()
    (root / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match="cut short") as err:
        Engine.load(root, "cpu")
    assert "again" in err.value.hint and err.value.path.endswith("model.safetensors")


def test_garbage_weights_are_corrupt(tiny_model, tmp_path):
    root = _copy(tiny_model, tmp_path)
    (root / "tokenizer-e351c8d8-checkpoint125.safetensors").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CorruptFileError):
        Engine.load(root, "cpu")


def test_config_of_another_model_is_a_shape_error(tiny_model, tmp_path):
    root = _copy(tiny_model, tmp_path)
    config = json.loads((root / "config.json").read_text())
    config["lm_kwargs"]["dim"] = 64
    (root / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointShapeError, match="do not fit"):
        Engine.load(root, "cpu")


def test_real_size_config_against_tiny_weights_is_a_shape_error(tiny_model, tmp_path):
    root = _copy(tiny_model, tmp_path)
    (root / "config.json").write_text("{}")  # no overrides: PersonaPlex-7B's shape
    with pytest.raises(CheckpointShapeError):
        Engine.load(root, "cpu")


@pytest.mark.parametrize("dep_steps", [16, 8])
def test_checkpoints_with_16_or_8_depformer_steps_load(tmp_path, dep_steps):
    root = testkit.write(tmp_path / f"dep{dep_steps}", dep_steps=dep_steps)
    header = checkpoint.read_header(root / "model.safetensors")
    _, steps = checkpoint.lm_kwargs(checkpoint.read_config(checkpoint.ModelFiles(root)), header)
    assert steps == dep_steps
    engine = Engine.load(root, "cpu")
    assert engine.lm.dep_q == 8  # the conversation only ever samples 8 codebooks
    assert engine.loaded.ckpt_dep_steps == dep_steps


def test_dep8_and_dep16_give_the_same_conversation(tmp_path):
    """Steps 9-16 only predict the user's (always forced) codebooks."""
    from arcus_desktop.core.persona import Persona
    from arcus_desktop.engine.generator import Sampling

    outputs = []
    for steps in (16, 8):
        engine = Engine.load(testkit.write(tmp_path / str(steps), dep_steps=steps), "cpu")
        prepared = engine.prepare(Persona(text="Hello there.", voice="NATF2"))
        torch.manual_seed(0)
        with engine.generator(1, Sampling(greedy=True)) as gen:
            gen.start(0, prepared.plan)
            codes = torch.randint(0, 2048, (20, 8), generator=torch.Generator().manual_seed(1))
            outputs.append([gen.step(c[None]).frames[0].tolist() for c in codes])
    assert outputs[0] == outputs[1]


def test_full_depformer_can_be_loaded_for_verification(tiny_model):
    files = checkpoint.ModelFiles(tiny_model)
    loaded = model.load(files, torch.device("cpu"), dep_steps=16)
    assert loaded.lm.dep_q == 16
