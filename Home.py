"""LMSpace dashboard entry point: declares the pages and runs the selected one (nothing heavy happens here).

The pages live in `pages/`; each draws the app's menu itself (`lmspace_ui.frame`), see there for why.
"""

from lmspace_ui.frame import navigation

navigation().run()
