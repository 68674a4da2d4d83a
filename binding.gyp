{
  "targets": [
    {
      "target_name": "ingestor_fcntl",
      "sources": ["native/fcntl.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
