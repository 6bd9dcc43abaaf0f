"""Every error the agent raises, as one tree: whose fault it is, and what it does to a run.

::

    AgentError
    ├── BadInput                      exit 64: the user's input cannot be used, nothing was done
    │   ├── SettingsError             options, environment, config file      (agent.settings)
    │   ├── PolicyError, CaseError    a policy file, a policy-check case     (safety.policy, safety.check)
    │   ├── FormError, RowsError      a form spec, its data rows             (tasks.forms.form, tasks.rows)
    │   ├── RecordingError            a recording folder                     (tasks.recordings.recording)
    │   ├── ReplayError               replay options and parameters          (tasks.recordings.replay)
    │   ├── TaskError, ResultsError   a task file, an evaluation folder      (evaluation.task, evaluation.results)
    │   └── GroundingError            a grounding data set                   (evaluation.grounding)
    ├── ModelMistake                  never an exit: told to the model, which tries again (within max_errors)
    │   ├── ReplyError                no usable tool call in the reply       (agent.reply)
    │   ├── InvalidAction             an unknown or malformed action         (actions.schema)
    │   └── OffScreen                 a point off the grid or the monitors   (perception.geometry)
    ├── SystemFailure                 exit 70: ours or the system's; the run stops with status "error"
    │   ├── ModelUnavailable          the model cannot be loaded or reached  (agent.model)
    │   ├── ScreenUnavailable         no display to capture                  (perception.screen)
    │   ├── InputFailed               the X server did not take our input    (actions.executor)
    │   ├── ClipboardUnavailable      xclip missing or not answering         (perception.clipboard)
    │   ├── OcrUnavailable            Tesseract missing                      (perception.ocr)
    │   ├── DesktopError              a virtual display that does not start  (desktop.virtual)
    │   ├── RecorderError             the recorder cannot listen             (tasks.recordings.record)
    │   └── SetupFailed               an evaluation task's set-up failed     (evaluation.machine)
    └── Stopped                       exit 130: a person stopped it
        ├── StopRequested             the stop hotkey, the web page's Stop   (safety.killswitch)
        └── FailSafeTriggered         the pointer thrown into a corner       (actions.executor)

Any other exception is a bug of ours or of a library: the run ends with status "error" and
exit 70, its folder complete. Some exceptions never leave the module that raises them and stay
out of the tree: ``Refused`` (agent.hands), ``RowFailed``, ``RowInterrupted``, ``FieldNotFound``
(tasks.forms), ``FeaturelessPatch`` (perception.locate), ``Unsupported`` (evaluation.machine), and
the web page's, which become HTTP answers (webui).
"""

from __future__ import annotations


class AgentError(Exception):
    """Anything the agent raises on purpose; ``exit_code`` is what ``run_agent.py`` returns for it."""

    exit_code = 70


class BadInput(AgentError, ValueError):
    exit_code = 64


class ModelMistake(AgentError, ValueError):
    exit_code = 70  # only reached when the error budget is used up outside a run


class SystemFailure(AgentError, RuntimeError):
    exit_code = 70


class Stopped(AgentError, RuntimeError):
    exit_code = 130
