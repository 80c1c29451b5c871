"""The parameter form of the setup cell: the declared parameters as typed widgets.

In JupyterLab an operator changes a value here rather than by editing Python: a
text box (with pattern feedback), a number, a checkbox, a dropdown for choices;
a secret shows only whether its ``RUNBOOK_SECRET_<NAME>`` is set. A valid change
replaces the run's values (:attr:`RunState.parameters`), the steps' environment
and is journaled (``parameter_set``); an invalid one is refused with the reason
and nothing changes. The ``parameters`` cell stays papermill's interface;
headless runs show the values as a table.
"""

from __future__ import annotations

import dataclasses
import html
from typing import Any

from ..errors import ParameterError
from ..model import Parameter
from ..parameters import coerce, secret_variable, to_environment
from ..records import events as ev
from ..records.outputs import WIDGET_VIEW
from .state import RunState
from .text import message


def show_parameters(session: RunState) -> None:
    """The parameters as a form (interactive) or a table (headless), in one output."""
    if not session.parameters.declarations:
        return
    display_id = session.new_display_id("parameters")
    form = None if session.settings.mode == "headless" else _form(session, display_id)
    _show(session, form, display_id, update=False)


def apply_value(session: RunState, param: Parameter, value: Any) -> Any:
    """Check ``value`` against the declaration, then make it the run's value; journaled.

    Raises :class:`ParameterError` (nothing changes) when the value is refused.
    """
    typed = coerce(param, value, from_text=isinstance(value, str) and param.type != "str")
    if typed in (None, "") and param.required:
        raise ParameterError(f"parameter '{param.name}' is required")
    old = session.parameters.values.get(param.name)
    if typed == old:
        return typed
    if session.cell_values is None:  # what the parameters cell said: "Run All" resumes on it
        session.cell_values = dict(session.parameters.values)
    values = {**session.parameters.values, param.name: typed}
    session.parameters = dataclasses.replace(session.parameters, values=values)
    session.env[param.name] = to_environment(typed)
    session.journal.write(
        ev.PARAMETER_SET, name=param.name, value=typed, previous=old, by=session.operator
    )
    return typed


def _show(session: RunState, form: Any, display_id: str, *, update: bool) -> None:
    rows = "".join(
        f"<tr><td><code>{html.escape(k)}</code></td><td>{html.escape(_text(v))}</td></tr>"
        for k, v in session.shown_parameters().items()
    )
    title = html.escape(message(session.lang, "parameters"))
    bundle = {
        "text/html": f'<table class="runbook-parameters"><caption>{title}</caption>'
        f"<tbody>{rows}</tbody></table>",
        "text/plain": "\n".join(
            f"{message(session.lang, 'parameters')}: {k}: {_text(v)}"
            for k, v in session.shown_parameters().items()
        ),
    }
    if form is not None:
        bundle[WIDGET_VIEW] = form._repr_mimebundle_()[WIDGET_VIEW]
    from IPython.display import display

    display(bundle, raw=True, display_id=display_id, update=update)


def _form(session: RunState, display_id: str) -> Any:
    import ipywidgets as widgets

    rows = [widgets.HTML(f"<b>{html.escape(message(session.lang, 'parameters'))}</b>")]
    holder: dict[str, Any] = {}
    for param in session.parameters.declarations:
        rows.append(
            _row(session, param, lambda: _show(session, holder["form"], display_id, update=True))
        )
    form = widgets.VBox(rows)
    form.add_class("runbook-parameter-form")
    holder["form"] = form
    return form


def _row(session: RunState, param: Parameter, refresh: Any) -> Any:
    import ipywidgets as widgets

    label = widgets.HTML(
        f"<code>{html.escape(param.name)}</code>",
        layout=widgets.Layout(width="14em"),
        tooltip=param.description or None,
    )
    if param.secret:
        variable = secret_variable(param.name)
        key = "secret_set" if session.parameters.values.get(param.name) else "secret_unset"
        state = widgets.HTML(html.escape(message(session.lang, key, variable=variable)))
        state.add_class("runbook-secret")
        return widgets.HBox([label, state])
    field = _field(param, session.parameters.values.get(param.name))
    field.add_class("runbook-param")
    field.add_class(f"runbook-param-{param.name}")
    feedback = widgets.HTML("")
    feedback.add_class("runbook-param-feedback")
    hint = widgets.HTML(
        f"<small>{html.escape(' '.join(param.description.split()))}</small>"
        if param.description
        else ""
    )

    def changed(change: dict) -> None:
        if session.finished:  # the record is sealed: the form no longer changes the run
            return
        try:
            apply_value(session, param, _from_field(param, change["new"]))
        except ParameterError as exc:
            feedback.value = f"<span style='color:#cf222e'>✗ {html.escape(str(exc))}</span>"
            return
        feedback.value = (
            "<span style='color:#1a7f37'>✓ "
            + html.escape(message(session.lang, "parameter_changed", name=param.name))
            + "</span>"
        )
        refresh()

    field.observe(changed, names="value")
    return widgets.HBox([label, field, feedback, hint])


def _field(param: Parameter, value: Any) -> Any:
    """The widget for the parameter's type: dropdown, checkbox, number or text."""
    import ipywidgets as widgets

    layout = widgets.Layout(width="22em")
    if param.choices is not None:
        return widgets.Dropdown(options=list(param.choices), value=value, layout=layout)
    if param.type == "bool":
        return widgets.Checkbox(value=bool(value), indent=False)
    if param.type == "int":
        return widgets.IntText(value=value or 0, layout=layout)
    if param.type == "float":
        return widgets.FloatText(value=value or 0.0, layout=layout)
    text = ", ".join(map(str, value)) if isinstance(value, list) else _text(value)
    placeholder = param.pattern or ""
    return widgets.Text(value=text, placeholder=placeholder, continuous_update=False, layout=layout)


def _from_field(param: Parameter, value: Any) -> Any:
    if param.type == "list" and isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _text(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else repr(value)
