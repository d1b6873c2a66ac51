"""History data: the model (:mod:`.model`), tasks (:mod:`.tasks`) and file loading (:mod:`.load`)."""
