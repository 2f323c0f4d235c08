"""Analysis of stored results: statistics, figures and the report. Reads the store only, never a model
(no torch here), so a report can be written on any machine that has the database."""

from securitynet.analysis.frames import AnalysisData, load_analysis_data

__all__ = ["AnalysisData", "load_analysis_data"]
