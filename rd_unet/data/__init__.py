"""HDF5 datasets of RD maps: schema, writer, reader, torch Dataset."""
