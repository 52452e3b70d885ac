{
  # The MPI backend's Node-API addon (spec/backend-mpi.md §2). scripts/build-mpi.mjs runs node-gyp on
  # it only where an MPI implementation is found, and passes MPI's compile and link flags (from
  # `mpicc --showme`, `mpicc -show` or pkg-config) in the environment.
  "targets": [
    {
      "target_name": "collective_mpi",
      "sources": ["src/binding.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["<!@(node -p \"process.env.COLLECTIVE_MPI_CFLAGS || ''\")", "-std=c++17"],
      "libraries": ["<!@(node -p \"process.env.COLLECTIVE_MPI_LIBS || '-lmpi'\")"],
      "ldflags": ["<!@(node -p \"process.env.COLLECTIVE_MPI_LDFLAGS || ''\")"]
    }
  ]
}
