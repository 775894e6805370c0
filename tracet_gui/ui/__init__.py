"""The only PySide6 code: main window, table models, widgets, dialogs, controllers."""
