"""The data layer: tables and engines, the image and token repositories, migrations."""
