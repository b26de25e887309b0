{
  "targets": [
    {
      "target_name": "media_io",
      "sources": ["native/media_io.c", "native/send_queue.c", "native/fast_path.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-pthread"],
      "libraries": ["-pthread"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    },
    {
      "target_name": "file_appender",
      "sources": ["native/file_appender.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-pthread"],
      "libraries": ["-pthread"]
    },
    {
      "target_name": "srtp_crypto",
      "sources": ["native/srtp_crypto.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
