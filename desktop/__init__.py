"""Virtual desktops (Xvfb + a window manager) and the small apps bundled for demos and tests."""
