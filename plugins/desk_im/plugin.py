"""The desk_im product plugin (hook implementations are added as the plugin is built)."""
