// The MPI backend's native half (spec/backend-mpi.md §2): a thin Node-API layer over the MPI C API.
// Every data-moving call is nonblocking (MPI_I*): it starts an operation and returns a request id;
// the JavaScript progress loop (src/backends/mpi/progress.ts) completes it with test(). So no call
// here waits for a peer, and the event loop never blocks. The exceptions are set-up calls made right
// after every rank has agreed to make them (MPI_Comm_dup, MPI_Comm_split_type,
// MPI_Win_allocate_shared) and MPI_Init_thread / MPI_Finalize at the process's start and end.
//
// Handles are small integers into tables (communicators, requests, matched messages, windows): no
// MPI handle crosses into JavaScript. Buffers are typed arrays whose memory V8 never moves; the
// JavaScript side holds a reference to each until its request completes.
// The C API only: Open MPI and MPICH otherwise pull in their deprecated C++ bindings (another library).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#include <napi.h>

#include <climits>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct RequestSlot {
  MPI_Request request = MPI_REQUEST_NULL;
  bool used = false;
  // Counts and displacements of a v-collective: MPI reads them until completion.
  std::vector<int> arrays;
};

std::vector<MPI_Comm> comms;
std::vector<RequestSlot> requests;
std::vector<int> freeRequests;
std::vector<MPI_Message> messages;
std::vector<int> freeMessages;
std::vector<MPI_Win> windows;
MPI_Datatype unitTypes[9];
bool unitReady[9] = {false};
int providedThread = -1;

Napi::Value Fail(Napi::Env env, const std::string& what, int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) length = 0;
  int errorClass = code;
  MPI_Error_class(code, &errorClass);
  Napi::Error error =
      Napi::Error::New(env, what + ": " + std::string(text, static_cast<size_t>(length)));
  error.Set("mpiCode", Napi::Number::New(env, code));
  error.Set("mpiClass", Napi::Number::New(env, errorClass));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value Usage(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, "collective_mpi: " + message).ThrowAsJavaScriptException();
  return env.Undefined();
}

bool Initialized() {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

// A typed array's bytes (any element type, SharedArrayBuffer or not), or false.
bool BytesOf(Napi::Value value, char** data, size_t* bytes) {
  if (!value.IsTypedArray()) return false;
  napi_typedarray_type type;
  size_t length = 0;
  void* pointer = nullptr;
  napi_value buffer;
  size_t offset = 0;
  if (napi_get_typedarray_info(value.Env(), value, &type, &length, &pointer, &buffer, &offset) !=
      napi_ok)
    return false;
  size_t element = 1;
  switch (type) {
    case napi_int16_array:
    case napi_uint16_array:
      element = 2;
      break;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      element = 4;
      break;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array:
      element = 8;
      break;
    default:
      element = 1;
  }
  *data = static_cast<char*>(pointer);
  *bytes = length * element;
  return true;
}

bool CommOf(Napi::Value value, MPI_Comm* comm) {
  if (!value.IsNumber()) return false;
  int64_t id = value.As<Napi::Number>().Int64Value();
  if (id < 0 || id >= static_cast<int64_t>(comms.size()) || comms[id] == MPI_COMM_NULL) return false;
  *comm = comms[id];
  return true;
}

int IntOf(Napi::Value value) { return value.As<Napi::Number>().Int32Value(); }

// MPI_BYTE, or a contiguous type of `unit` bytes (1, 2, 4, 8) so that counts count elements and a
// block of up to 2^31 - 1 elements (not bytes) fits MPI's int counts.
MPI_Datatype UnitType(int unit) {
  if (unit <= 1 || unit > 8) return MPI_BYTE;
  if (!unitReady[unit]) {
    MPI_Type_contiguous(unit, MPI_BYTE, &unitTypes[unit]);
    MPI_Type_commit(&unitTypes[unit]);
    unitReady[unit] = true;
  }
  return unitTypes[unit];
}

int NewRequest() {
  if (!freeRequests.empty()) {
    int id = freeRequests.back();
    freeRequests.pop_back();
    requests[id].used = true;
    return id;
  }
  requests.emplace_back();
  requests.back().used = true;
  return static_cast<int>(requests.size() - 1);
}

void ReleaseRequest(int id) {
  requests[id].used = false;
  requests[id].request = MPI_REQUEST_NULL;
  requests[id].arrays.clear();
  freeRequests.push_back(id);
}

// Starts one nonblocking operation: `start` fills the slot's request; on failure the slot is freed.
template <typename Start>
Napi::Value Started(Napi::Env env, const char* what, Start start) {
  int id = NewRequest();
  int code = start(requests[id]);
  if (code != MPI_SUCCESS) {
    ReleaseRequest(id);
    return Fail(env, what, code);
  }
  return Napi::Number::New(env, id);
}

Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Initialized()) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return Usage(env, "MPI was finalized in this process; it cannot start again");
    int code = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &providedThread);
    if (code != MPI_SUCCESS) return Fail(env, "MPI_Init_thread", code);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    comms.push_back(MPI_COMM_WORLD);
  }
  int rank = 0;
  int size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  char library[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(library, &length);
  Napi::Object out = Napi::Object::New(env);
  out.Set("world", Napi::Number::New(env, 0));
  out.Set("rank", Napi::Number::New(env, rank));
  out.Set("size", Napi::Number::New(env, size));
  out.Set("thread", Napi::Number::New(env, providedThread));
  out.Set("library", Napi::String::New(env, std::string(library, static_cast<size_t>(length))));
  return out;
}

Napi::Value Finalize(const Napi::CallbackInfo& info) {
  if (!Initialized()) return info.Env().Undefined();
  for (MPI_Win& win : windows)
    if (win != MPI_WIN_NULL) MPI_Win_unlock_all(win);
  MPI_Finalize();
  return info.Env().Undefined();
}

Napi::Value Abort(const Napi::CallbackInfo& info) {
  if (Initialized()) MPI_Abort(MPI_COMM_WORLD, info.Length() > 0 ? IntOf(info[0]) : 1);
  return info.Env().Undefined();
}

Napi::Value CommDup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MPI_Comm comm;
  if (!CommOf(info[0], &comm)) return Usage(env, "commDup(comm)");
  MPI_Comm dup;
  int code = MPI_Comm_dup(comm, &dup);
  if (code != MPI_SUCCESS) return Fail(env, "MPI_Comm_dup", code);
  comms.push_back(dup);
  return Napi::Number::New(env, static_cast<double>(comms.size() - 1));
}

// The ranks of `comm` that share memory with this one (MPI_COMM_TYPE_SHARED), ordered by rank.
Napi::Value CommSplitShared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MPI_Comm comm;
  if (!CommOf(info[0], &comm)) return Usage(env, "commSplitShared(comm)");
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm node;
  int code = MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
  if (code != MPI_SUCCESS) return Fail(env, "MPI_Comm_split_type", code);
  comms.push_back(node);
  return Napi::Number::New(env, static_cast<double>(comms.size() - 1));
}

Napi::Value CommShape(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MPI_Comm comm;
  if (!CommOf(info[0], &comm)) return Usage(env, "commShape(comm)");
  int rank = 0;
  int size = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, rank));
  out.Set(1u, Napi::Number::New(env, size));
  return out;
}

// test(request): true once complete (the id is then free), false while in flight; throws on error.
Napi::Value Test(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = IntOf(info[0]);
  if (id < 0 || id >= static_cast<int>(requests.size()) || !requests[id].used)
    return Usage(env, "test: no such request");
  int done = 0;
  MPI_Status status;
  int code = MPI_Test(&requests[id].request, &done, &status);
  if (code != MPI_SUCCESS) {
    ReleaseRequest(id);
    return Fail(env, "MPI_Test", code);
  }
  if (done) ReleaseRequest(id);
  return Napi::Boolean::New(env, done != 0);
}

Napi::Value Iallgather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MPI_Comm comm;
  char *send, *recv;
  size_t sendBytes, recvBytes;
  if (!CommOf(info[0], &comm) || !BytesOf(info[1], &send, &sendBytes) ||
      !BytesOf(info[2], &recv, &recvBytes) || sendBytes > INT_MAX)
    return Usage(env, "iallgather(comm, send, recv)");
  int size = 0;
  MPI_Comm_size(comm, &size);
  if (recvBytes < sendBytes * static_cast<size_t>(size)) return Usage(env, "iallgather: recv too short");
  return Started(env, "MPI_Iallgather", [&](RequestSlot& slot) {
    return MPI_Iallgather(send, static_cast<int>(sendBytes), MPI_BYTE, recv,
                          static_cast<int>(sendBytes), MPI_BYTE, comm, &slot.request);
  });
}

// Reads `count` ints of an Int32Array into `out` (appended); false when it is not one of that length.
bool IntsOf(Napi::Value value, size_t count, std::vector<int>* out) {
  if (!value.IsTypedArray()) return false;
  Napi::TypedArray array = value.As<Napi::TypedArray>();
  if (array.TypedArrayType() != napi_int32_array || array.ElementLength() != count) return false;
  Napi::Int32Array ints = value.As<Napi::Int32Array>();
  for (size_t i = 0; i < count; i++) out->push_back(ints[i]);
  return true;
}

// iallgatherv(comm, send, recv, counts, displs, unit): counts and displs in units of `unit` bytes.
Napi::Value Iallgatherv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MPI_Comm comm;
  char *send, *recv;
  size_t sendBytes, recvBytes;
  if (!CommOf(info[0], &comm) || !BytesOf(info[1], &send, &sendBytes) ||
      !BytesOf(info[2], &recv, &recvBytes) || !info[5].IsNumber())
    return Usage(env, "iallgatherv(comm, send, recv, counts, displs, unit)");
  int size = 0;
  MPI_Comm_size(comm, &size);
  int unit = IntOf(info[5]);
  std::vector<int> arrays;
  if (!IntsOf(info[3], size, &arrays) || !IntsOf(info[4], size, &arrays))
    return Usage(env, "iallgatherv: counts and displs must be Int32Arrays of the communicator's size");
  if (sendBytes / static_cast<size_t>(unit) > INT_MAX) return Usage(env, "iallgatherv: block too large");
  return Started(env, "MPI_Iallgatherv", [&](RequestSlot& slot) {
    slot.arrays = std::move(arrays);
    MPI_Datatype type = UnitType(unit);
    return MPI_Iallgatherv(send, static_cast<int>(sendBytes / unit), type, recv, slot.arrays.data(),
                           slot.arrays.data() + size, type, comm, &slot.request);
  });
}

// ialltoallv(comm, send, sendCounts, sendDispls, recv, recvCounts, recvDispls, unit).
Napi::Value Ialltoallv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MPI_Comm comm;
  char *send, *recv;
  size_t sendBytes, recvBytes;
  if (!CommOf(info[0], &comm) || !BytesOf(info[1], &send, &sendBytes) ||
      !BytesOf(info[4], &recv, &recvBytes) || !info[7].IsNumber())
    return Usage(env, "ialltoallv(comm, send, sendCounts, sendDispls, recv, recvCounts, recvDispls, unit)");
  int size = 0;
  MPI_Comm_size(comm, &size);
  std::vector<int> arrays;
  if (!IntsOf(info[2], size, &arrays) || !IntsOf(info[3], size, &arrays) ||
      !IntsOf(info[5], size, &arrays) || !IntsOf(info[6], size, &arrays))
    return Usage(env, "ialltoallv: counts and displs must be Int32Arrays of the communicator's size");
  int unit = IntOf(info[7]);
  return Started(env, "MPI_Ialltoallv", [&](RequestSlot& slot) {
    slot.arrays = std::move(arrays);
    MPI_Datatype type = UnitType(unit);
    int* a = slot.arrays.data();
    return MPI_Ialltoallv(send, a, a + size, type, recv, a + 2 * size, a + 3 * size, type, comm,
                          &slot.request);
  });
}

// ibcast(comm, buf, root, unit): buf's bytes in units of `unit`.
Napi::Value Ibcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MPI_Comm comm;
  char* data;
  size_t bytes;
  if (!CommOf(info[0], &comm) || !BytesOf(info[1], &data, &bytes) || !info[2].IsNumber() ||
      !info[3].IsNumber())
    return Usage(env, "ibcast(comm, buf, root, unit)");
  int unit = IntOf(info[3]);
  if (bytes / static_cast<size_t>(unit) > INT_MAX) return Usage(env, "ibcast: buffer too large");
  int root = IntOf(info[2]);
  return Started(env, "MPI_Ibcast", [&](RequestSlot& slot) {
    return MPI_Ibcast(data, static_cast<int>(bytes / unit), UnitType(unit), root, comm, &slot.request);
  });
}

Napi::Value Ibarrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MPI_Comm comm;
  if (!CommOf(info[0], &comm)) return Usage(env, "ibarrier(comm)");
  return Started(env, "MPI_Ibarrier",
                 [&](RequestSlot& slot) { return MPI_Ibarrier(comm, &slot.request); });
}

// isend(comm, dest, tag, bytes): the frame goes out from the caller's memory, held until complete.
Napi::Value Isend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MPI_Comm comm;
  char* data;
  size_t bytes;
  if (!CommOf(info[0], &comm) || !info[1].IsNumber() || !info[2].IsNumber() ||
      !BytesOf(info[3], &data, &bytes))
    return Usage(env, "isend(comm, dest, tag, bytes)");
  if (bytes > INT_MAX) return Usage(env, "isend: a frame holds at most 2^31 - 1 bytes");
  int dest = IntOf(info[1]);
  int tag = IntOf(info[2]);
  return Started(env, "MPI_Isend", [&](RequestSlot& slot) {
    return MPI_Isend(data, static_cast<int>(bytes), MPI_BYTE, dest, tag, comm, &slot.request);
  });
}

// improbe(comm, source, tag): null, or [source, tag, bytes, message] of a message now matched to us.
Napi::Value Improbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MPI_Comm comm;
  if (!CommOf(info[0], &comm) || !info[1].IsNumber() || !info[2].IsNumber())
    return Usage(env, "improbe(comm, source, tag)");
  int source = IntOf(info[1]);
  int tag = IntOf(info[2]);
  int found = 0;
  MPI_Message message;
  MPI_Status status;
  int code = MPI_Improbe(source < 0 ? MPI_ANY_SOURCE : source, tag < 0 ? MPI_ANY_TAG : tag, comm,
                         &found, &message, &status);
  if (code != MPI_SUCCESS) return Fail(env, "MPI_Improbe", code);
  if (!found) return env.Null();
  int bytes = 0;
  MPI_Get_count(&status, MPI_BYTE, &bytes);
  int id;
  if (!freeMessages.empty()) {
    id = freeMessages.back();
    freeMessages.pop_back();
    messages[id] = message;
  } else {
    messages.push_back(message);
    id = static_cast<int>(messages.size() - 1);
  }
  Napi::Array out = Napi::Array::New(env, 4);
  out.Set(0u, Napi::Number::New(env, status.MPI_SOURCE));
  out.Set(1u, Napi::Number::New(env, status.MPI_TAG));
  out.Set(2u, Napi::Number::New(env, bytes));
  out.Set(3u, Napi::Number::New(env, id));
  return out;
}

// imrecv(message, bytes): receives a matched message into `bytes` (exactly its length).
Napi::Value Imrecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  char* data;
  size_t bytes;
  if (!info[0].IsNumber() || !BytesOf(info[1], &data, &bytes))
    return Usage(env, "imrecv(message, bytes)");
  int id = IntOf(info[0]);
  if (id < 0 || id >= static_cast<int>(messages.size()) || messages[id] == MPI_MESSAGE_NULL)
    return Usage(env, "imrecv: no such message");
  MPI_Message message = messages[id];
  messages[id] = MPI_MESSAGE_NULL;
  freeMessages.push_back(id);
  return Started(env, "MPI_Imrecv", [&](RequestSlot& slot) {
    return MPI_Imrecv(data, static_cast<int>(bytes), MPI_BYTE, &message, &slot.request);
  });
}

// winAllocateShared(comm, bytes): one segment of `bytes` owned by the comm's rank 0, mapped by every
// rank of it (they must share memory: a MPI_COMM_TYPE_SHARED communicator). Returns
// [window, ArrayBuffer over the segment]. The window lives until MPI_Finalize (spec §5.3).
Napi::Value WinAllocateShared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MPI_Comm comm;
  if (!CommOf(info[0], &comm) || !info[1].IsNumber()) return Usage(env, "winAllocateShared(comm, bytes)");
  int64_t bytes = info[1].As<Napi::Number>().Int64Value();
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  void* base = nullptr;
  MPI_Win win;
  int code = MPI_Win_allocate_shared(rank == 0 ? static_cast<MPI_Aint>(bytes) : 0, 1, MPI_INFO_NULL,
                                     comm, &base, &win);
  if (code != MPI_SUCCESS) return Fail(env, "MPI_Win_allocate_shared", code);
  MPI_Aint segment = 0;
  int unit = 0;
  void* shared = nullptr;
  code = MPI_Win_shared_query(win, 0, &segment, &unit, &shared);
  if (code != MPI_SUCCESS) return Fail(env, "MPI_Win_shared_query", code);
  MPI_Win_lock_all(MPI_MODE_NOCHECK, win);
  if (rank == 0 && bytes > 0) std::memset(shared, 0, static_cast<size_t>(bytes));
  windows.push_back(win);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, static_cast<double>(windows.size() - 1)));
  out.Set(1u, bytes > 0 ? Napi::ArrayBuffer::New(env, shared, static_cast<size_t>(bytes))
                        : Napi::ArrayBuffer::New(env, 0));
  return out;
}

// winSync(window): orders this rank's loads and stores to the segment (MPI_Win_sync, a memory barrier).
Napi::Value WinSync(const Napi::CallbackInfo& info) {
  int id = IntOf(info[0]);
  if (id >= 0 && id < static_cast<int>(windows.size())) MPI_Win_sync(windows[id]);
  return info.Env().Undefined();
}

Napi::Object Module(Napi::Env env, Napi::Object exports) {
  exports.Set("init", Napi::Function::New(env, Init));
  exports.Set("finalize", Napi::Function::New(env, Finalize));
  exports.Set("abort", Napi::Function::New(env, Abort));
  exports.Set("commDup", Napi::Function::New(env, CommDup));
  exports.Set("commSplitShared", Napi::Function::New(env, CommSplitShared));
  exports.Set("commShape", Napi::Function::New(env, CommShape));
  exports.Set("test", Napi::Function::New(env, Test));
  exports.Set("iallgather", Napi::Function::New(env, Iallgather));
  exports.Set("iallgatherv", Napi::Function::New(env, Iallgatherv));
  exports.Set("ialltoallv", Napi::Function::New(env, Ialltoallv));
  exports.Set("ibcast", Napi::Function::New(env, Ibcast));
  exports.Set("ibarrier", Napi::Function::New(env, Ibarrier));
  exports.Set("isend", Napi::Function::New(env, Isend));
  exports.Set("improbe", Napi::Function::New(env, Improbe));
  exports.Set("imrecv", Napi::Function::New(env, Imrecv));
  exports.Set("winAllocateShared", Napi::Function::New(env, WinAllocateShared));
  exports.Set("winSync", Napi::Function::New(env, WinSync));
  return exports;
}

}  // namespace

NODE_API_MODULE(collective_mpi, Module)
