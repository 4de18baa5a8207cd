# Prints Ansible's progress as JSON lines, one object per event, for elm-infra's task display
# (src/ansible/events.ts reads them). Selected with ANSIBLE_STDOUT_CALLBACK=elm_infra_jsonl and
# ANSIBLE_CALLBACK_PLUGINS pointing at this folder (src/ansible/argv.ts sets both).
#
# Events: play, task, result, failure, recap, warning. Results carry only what a display needs
# (host, task, status, item label, message): never the module's whole result, so nothing a task
# returns leaks into a log. Callbacks receive results already censored for `no_log` tasks.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = """
    name: elm_infra_jsonl
    type: stdout
    short_description: one JSON object per line for each play, task, host result and recap
    description:
      - Machine-readable progress for elm-infra; see src/ansible/events.ts.
"""

import json
import sys

from ansible.plugins.callback import CallbackBase

MAX_TEXT = 2000


def _text(value):
    if value is None:
        return ""
    if not isinstance(value, str):
        value = json.dumps(value, default=str)
    value = value.strip()
    return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "..."


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "elm_infra_jsonl"

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        # (host, task uuid) of looped tasks whose items were reported one by one.
        self._items_seen = set()

    def _items_reported(self, result):
        """Whether this is a loop's closing result, after its items were each reported."""
        return (result._host.get_name(), result._task._uuid) in self._items_seen

    def _item(self, result):
        self._items_seen.add((result._host.get_name(), result._task._uuid))

    def _emit(self, event, **fields):
        fields["event"] = event
        sys.stdout.write(json.dumps(fields, sort_keys=True, default=str) + "\n")
        sys.stdout.flush()

    def _task_name(self, task):
        return task.get_name().strip()

    def _base(self, result):
        fields = {"host": result._host.get_name(), "task": self._task_name(result._task)}
        if result._result.get("_ansible_item_label") is not None or "item" in result._result:
            fields["item"] = _text(self._get_item_label(result._result))
        return fields

    def _warnings(self, result):
        for warning in result._result.get("warnings", None) or []:
            self._emit("warning", message=_text(warning))
        result._result.pop("warnings", None)

    def _message(self, result):
        res = result._result
        parts = [_text(res.get("msg")), _text(res.get("stderr")), _text(res.get("module_stderr"))]
        message = ": ".join(p for p in parts if p)
        if not message and res.get("censored"):
            message = "output hidden: the task has no_log set"
        if not message and res.get("exception"):
            message = _text(res.get("exception")).splitlines()[-1]
        return message

    def v2_playbook_on_play_start(self, play):
        self._emit("play", name=play.get_name().strip(), hosts=list(play.hosts or []))

    def _task_start(self, task, handler):
        if task.action in ("meta", "ansible.builtin.meta"):
            return  # flush_handlers and the like: the handlers report themselves
        role = task._role.get_name() if task._role else None
        self._emit("task", name=self._task_name(task), role=role, handler=handler)

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_start(task, False)

    def v2_playbook_on_handler_task_start(self, task):
        self._task_start(task, True)

    def _result(self, result, status):
        self._warnings(result)
        self._emit("result", status=status, **self._base(result))

    def v2_runner_on_ok(self, result):
        if self._items_reported(result):
            return
        self._result(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_item_on_ok(self, result):
        self._item(result)
        self._result(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_skipped(self, result):
        if self._items_reported(result):
            return
        self._result(result, "skipped")

    def v2_runner_item_on_skipped(self, result):
        self._item(result)
        self._result(result, "skipped")

    def _failure(self, result, unreachable, ignored):
        self._warnings(result)
        self._emit(
            "failure",
            unreachable=unreachable,
            ignored=ignored,
            message=self._message(result),
            **self._base(result)
        )

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if self._items_reported(result):
            return
        self._failure(result, False, bool(ignore_errors))

    def v2_runner_item_on_failed(self, result):
        self._item(result)
        self._failure(result, False, bool(result._task.ignore_errors))

    def v2_runner_on_unreachable(self, result):
        self._failure(result, True, False)

    def v2_runner_retry(self, result):
        self._emit(
            "retry",
            attempt=result._result.get("attempts"),
            retries=result._result.get("retries"),
            **self._base(result)
        )

    def v2_playbook_on_stats(self, stats):
        for host in sorted(stats.processed.keys()):
            counts = stats.summarize(host)
            self._emit(
                "recap",
                host=host,
                counts={
                    "ok": counts["ok"],
                    "changed": counts["changed"],
                    "unreachable": counts["unreachable"],
                    "failed": counts["failures"],
                    "skipped": counts["skipped"],
                    "rescued": counts["rescued"],
                    "ignored": counts["ignored"],
                },
            )
