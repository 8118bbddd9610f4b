"""The app's pages (one file each) and what they share (:mod:`pages.ui`, :mod:`pages.widgets`)."""
