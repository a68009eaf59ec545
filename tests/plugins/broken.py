"""Plugins that break the contract in every way the host must survive."""

from __future__ import annotations

from hostapi import StyleInfo, UserError, hookimpl


class RaisingComposer:
    """Offers the style "shared" but raises (a bug, not a user mistake) when asked."""

    plugin_name = "raising"

    @hookimpl
    def list_styles(self):
        return [StyleInfo(name="shared", title="Shared (raising)", installed=True)]

    @hookimpl
    def compose(self, style, options, progress):
        raise RuntimeError("model weights are corrupt\n(and this message has a second line)")

    @hookimpl
    def check_runtime(self):
        raise OSError("cannot read /proc/cpuinfo")


class FailingStyles:
    """Its list_styles raises: only its styles may go missing."""

    plugin_name = "failing_styles"

    @hookimpl
    def list_styles(self, offline):
        raise ConnectionError("catalogue unreachable")


class UserErrorComposer:
    """Knows the style "shared" and rejects the request as a user mistake."""

    plugin_name = "picky"

    @hookimpl
    def compose(self, style, options, progress):
        if style != "shared":
            return None
        raise UserError("primer file 'x.mid' is not a MIDI file")


class WrongTypeComposer:
    """Answers with dicts where the contract says dataclasses."""

    plugin_name = "wrong_type"

    @hookimpl
    def list_styles(self):
        return [{"name": "shared", "title": "a dict"}]

    @hookimpl
    def compose(self, style, options):
        return {"path": "x.mid"}


class UnknownHookPlugin:
    """Implements a hook no spec declares: check_pending must reject it."""

    plugin_name = "unknown_hook"

    @hookimpl
    def list_styles(self):
        return [StyleInfo(name="never", title="Never listed")]

    @hookimpl
    def compose_symphony(self, style):
        return None


class BadSignaturePlugin:
    """Its compose takes an argument the spec does not have."""

    plugin_name = "bad_signature"

    @hookimpl
    def compose(self, style, colour):
        return None


class WrapperPlugin:
    """A hook wrapper: meaningless when the host calls plugins one by one."""

    plugin_name = "wrapper"

    @hookimpl(wrapper=True)
    def compose(self, style):
        return (yield)
