"""Training that never loses work: a checkpoint after every epoch, resumable.

.. code-block:: python

    losses = fit(model, loader, optimizer, loss_fn, epochs=10, checkpoint="run.pt")
    # after a failure or an interruption, carry on where the checkpoint ends:
    losses = fit(model, loader, optimizer, loss_fn, epochs=10, checkpoint="run.pt", resume=True)

* :mod:`~qnn_torch.training.loop`: :func:`fit`;
* :mod:`~qnn_torch.training.checkpoints`: what :func:`fit` writes after every epoch and reads
  back to resume (:func:`load_checkpoint`);
* :mod:`~qnn_torch.training.interruption`: :class:`TrainingInterrupted`, the error that stops
  training, and ``SIGTERM`` as Ctrl-C (:func:`sigterm_as_interrupt`);
* :mod:`~qnn_torch.training.threads`: PyTorch's settings for one sample per step
  (:func:`tiny_batch_mode`).

On IBM hardware :func:`fit` also keeps a job journal next to the checkpoint
(:mod:`qnn_torch.devices.journal`), so that a resumed run fetches the jobs that already ran
instead of paying for them again; :func:`~qnn_torch.devices.sessions.runtime_session` (re-exported
here) runs the jobs in a session or batch.
"""

from ..devices.sessions import SESSION_MODES, runtime_session
from .checkpoints import TRAINING_KEYS, load_checkpoint
from .interruption import Terminated, TrainingInterrupted, sigterm_as_interrupt
from .loop import fit
from .threads import tiny_batch_mode

__all__ = ["SESSION_MODES", "TRAINING_KEYS", "Terminated", "TrainingInterrupted", "fit", "load_checkpoint",
           "runtime_session", "sigterm_as_interrupt", "tiny_batch_mode"]
