"""The Jupyter face of rmx-widgets: thin anywidget/ipywidgets wrappers over ``core``."""

from rmx_widgets.widgets.annotator import Annotator
from rmx_widgets.widgets.attribute_picker import AttributePicker
from rmx_widgets.widgets.comparison_view import ComparisonView
from rmx_widgets.widgets.explorer import Explorer
from rmx_widgets.widgets.rewrite_table import RewriteTable
from rmx_widgets.widgets.rm_compare import RMCompare
from rmx_widgets.widgets.sensitivity_chart import SensitivityChart
from rmx_widgets.widgets.study_view import StudyView

__all__ = [
    "Annotator",
    "AttributePicker",
    "ComparisonView",
    "Explorer",
    "RMCompare",
    "RewriteTable",
    "SensitivityChart",
    "StudyView",
]
