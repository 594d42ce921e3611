{
  "targets": [
    {
      "target_name": "tandem_native",
      "sources": [
        "native/addon.cc",
        "native/bitmap.cc",
        "native/block_device.cc",
        "native/crc32c.cc",
        "native/device_io.cc",
        "native/dirty_bitmap.cc",
        "native/fuse_channel.cc",
        "native/io_pool.cc",
        "native/unix_dgram.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "ldflags": ["-pthread"]
    }
  ]
}
