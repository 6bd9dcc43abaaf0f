"""The sign-up form of ``signup_form.py`` in Qt: the same fields, state file and messages.

Qt exposes its widgets to the accessibility tree (AT-SPI), which Tk does not. ``--misnamed``
gives the name and e-mail fields each other's accessible names, as a careless app might: the
visible labels are right, the names a screen reader hears are not.
Run: ``python signup_form_qt.py --state /tmp/signup.json``.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from app_state import StateFile
from PySide6.QtCore import QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QApplication,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QWidget,
)
from signup_form import COUNTRIES, PLANS  # the same choices as the Tk form


class SignupForm(QWidget):
    def __init__(self, state_file: Path | None, misnamed: bool) -> None:
        super().__init__()
        self.state_file = StateFile(state_file)
        self.submissions: list[dict[str, object]] = []
        self.setWindowTitle("Sign up")
        self.setFont(QFont("DejaVu Sans", 12))
        form = QFormLayout(self)
        form.setContentsMargins(24, 20, 24, 20)
        self.entries = {key: QLineEdit() for key in ("name", "email", "password", "birthday")}
        self.entries["password"].setEchoMode(QLineEdit.EchoMode.Password)
        self.entries["birthday"].setMaxLength(10)  # YYYY-MM-DD: longer input is cut off, as date fields do
        if misnamed:
            self.entries["name"].setAccessibleName("Email")
            self.entries["email"].setAccessibleName("Full name")
        form.addRow("Full name", self.entries["name"])
        form.addRow("Email", self.entries["email"])
        form.addRow("Password", self.entries["password"])
        self.country = QComboBox()
        self.country.addItems(["", *COUNTRIES])
        form.addRow("Country", self.country)
        plans, self.plan = QHBoxLayout(), QButtonGroup(self)
        for plan in PLANS:
            button = QRadioButton(plan)
            self.plan.addButton(button)
            plans.addWidget(button)
        plans.addStretch()
        form.addRow("Plan", plans)
        form.addRow("Birthday", self.entries["birthday"])
        self.notes = QPlainTextEdit()
        self.notes.setFixedHeight(80)
        form.addRow("Notes", self.notes)
        self.newsletter = QCheckBox("Send me the newsletter")
        form.addRow("", self.newsletter)
        save = QPushButton("Save")
        save.clicked.connect(self.save)
        form.addRow("", save)
        self.status = QLabel("")
        form.addRow("", self.status)
        self.resize(560, 480)
        self.timer = QTimer(self, interval=100, timeout=self.publish)
        self.timer.start()

    def values(self) -> dict[str, object]:
        values: dict[str, object] = {key: entry.text() for key, entry in self.entries.items()}
        chosen = self.plan.checkedButton()
        values.update(country=self.country.currentText(), plan=chosen.text() if chosen else "",
                      notes=self.notes.toPlainText(), newsletter=self.newsletter.isChecked())
        return values

    def save(self) -> None:
        try:
            datetime.strptime(self.entries["birthday"].text(), "%d.%m.%Y")
        except ValueError:
            self.status.setText("Birthday must be DD.MM.YYYY")
            return
        self.submissions.append(self.values())
        self.status.setText(f"Saved ({len(self.submissions)})")
        self.publish()

    def publish(self) -> None:
        self.state_file.write({"fields": self.values(), "submissions": self.submissions})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state", type=Path, help="write the form's state to this JSON file")
    parser.add_argument("--misnamed", action="store_true", help="swap the accessible names of two fields")
    args, qt_args = parser.parse_known_args()
    app = QApplication([sys.argv[0], *qt_args])
    form = SignupForm(args.state, args.misnamed)
    form.move(60, 40)
    form.show()
    sys.exit(app.exec())


if __name__ == "__main__":
    main()
