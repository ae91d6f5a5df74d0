"""Console scripts: seqrec-train, seqrec-eval, seqrec-predict."""
