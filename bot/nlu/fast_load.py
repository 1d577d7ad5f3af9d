"""Loading a trained model in seconds instead of half a minute.

Rasa (3.6, `RasaModel.load`) builds DIET's weights before restoring them by fitting one example, and that
fit runs Keras's training step as a traced TensorFlow graph: tracing the whole training graph, optimizer
included, is most of the 25-35 s a model takes to load on a 2-core machine, and ~400 MB of memory. The
weights it builds are overwritten by the saved ones at once, so the traced graph is never used.

Here the same one-example fit runs eagerly (no tracing), the saved weights are restored as before, and the
model is compiled back to graph mode, so predictions are traced and run exactly as Rasa runs them: the
results are the same numbers (tests/test_nlu_fast_load.py compares both loads).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def eager_weight_building() -> Iterator[None]:
    """While this is open, Rasa's TensorFlow models build their weights eagerly when they are loaded.

    Only models loaded inside it are affected: the original `RasaModel.load` is put back on exit.
    """
    from rasa.utils.tensorflow.models import RasaModel

    original = RasaModel.__dict__["load"]
    RasaModel.load = classmethod(_load_building_weights_eagerly)
    try:
        yield
    finally:
        RasaModel.load = original


def _load_building_weights_eagerly(
    cls: Any,
    model_file_name: str,
    model_data_example: Any,
    predict_data_example: Any = None,
    finetune_mode: bool = False,
    *args: Any,
    **kwargs: Any,
) -> Any:
    """`RasaModel.load` of rasa 3.6, but for `run_eagerly=True` during the weight-building fit."""
    import tensorflow as tf
    from rasa.utils.tensorflow.constants import LEARNING_RATE, RUN_EAGERLY
    from rasa.utils.tensorflow.data_generator import RasaBatchDataGenerator

    model = cls(*args, **kwargs)
    config = kwargs.get("config", {})
    optimizer = tf.keras.optimizers.Adam(config.get(LEARNING_RATE, 0.001))
    model.compile(optimizer=optimizer, run_eagerly=True)
    model.fit(RasaBatchDataGenerator(model_data_example, batch_size=1), verbose=False)
    model.load_weights(model_file_name)
    model.compile(optimizer=optimizer, run_eagerly=config.get(RUN_EAGERLY))
    if not finetune_mode and predict_data_example:
        model.run_inference(predict_data_example)  # traces the prediction graph now, not at a first parse
    return model
