"""A plugin module that cannot be imported (a missing dependency)."""

raise ImportError("this plugin needs the 'unobtainium' library, which is not installed")
