"""`cbsi`: the ops CLI of CBSI-Connect."""
