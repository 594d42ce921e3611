// UnixDgram: socket(AF_UNIX, SOCK_DGRAM), non-blocking. sendTo() is syslog(3)'s sendto on every
// line (a syslog daemon that restarts is found again without reconnecting); bind() and recv()
// serve the tests' own syslog socket. Every call answers 0 / a byte count or -errno, never throws
// for a socket error: the daemon must not go down because syslog did.
#include "unix_dgram.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <string>

#include "napi_util.h"

namespace tandem {
namespace {

bool Address(const std::string& path, sockaddr_un* sa, socklen_t* len) {
  if (path.empty() || path.size() >= sizeof(sa->sun_path)) return false;
  memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  memcpy(sa->sun_path, path.data(), path.size());
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return true;
}

class UnixDgram : public Napi::ObjectWrap<UnixDgram> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "UnixDgram",
                       {
                           InstanceMethod<&UnixDgram::SendTo>("sendTo"),
                           InstanceMethod<&UnixDgram::Bind>("bind"),
                           InstanceMethod<&UnixDgram::Recv>("recv"),
                           InstanceMethod<&UnixDgram::Close>("close"),
                       });
  }

  explicit UnixDgram(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UnixDgram>(info) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      Napi::Error e = Napi::Error::New(info.Env(), std::string("socket(AF_UNIX, SOCK_DGRAM): ") + strerror(errno));
      e.Set("errno", Napi::Number::New(info.Env(), -errno));
      e.ThrowAsJavaScriptException();
    }
  }

  ~UnixDgram() override {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  // sendTo(data, path): 0, or -errno (-EAGAIN / -ENOBUFS: the receiver is behind)
  Napi::Value SendTo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint8_t* data;
    size_t len;
    if (!GetBuffer(info, 0, "data", &data, &len)) return env.Undefined();
    if (info.Length() < 2 || !info[1].IsString()) {
      ThrowType(env, "path must be a string");
      return env.Undefined();
    }
    if (fd_ < 0) return Napi::Number::New(env, -EBADF);
    sockaddr_un sa;
    socklen_t salen;
    if (!Address(info[1].As<Napi::String>().Utf8Value(), &sa, &salen)) return Napi::Number::New(env, -ENAMETOOLONG);
    ssize_t n;
    do {
      n = sendto(fd_, data, len, MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&sa), salen);
    } while (n < 0 && errno == EINTR);
    return Napi::Number::New(env, n < 0 ? -errno : 0);
  }

  // bind(path): 0 or -errno
  Napi::Value Bind(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
      ThrowType(env, "path must be a string");
      return env.Undefined();
    }
    if (fd_ < 0) return Napi::Number::New(env, -EBADF);
    sockaddr_un sa;
    socklen_t salen;
    if (!Address(info[0].As<Napi::String>().Utf8Value(), &sa, &salen)) return Napi::Number::New(env, -ENAMETOOLONG);
    return Napi::Number::New(env, bind(fd_, reinterpret_cast<sockaddr*>(&sa), salen) < 0 ? -errno : 0);
  }

  // recv(target): bytes received into target, or -errno (-EAGAIN: nothing waiting)
  Napi::Value Recv(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint8_t* data;
    size_t len;
    if (!GetBuffer(info, 0, "target", &data, &len)) return env.Undefined();
    if (fd_ < 0) return Napi::Number::New(env, -EBADF);
    ssize_t n;
    do {
      n = recv(fd_, data, len, 0);
    } while (n < 0 && errno == EINTR);
    return Napi::Number::New(env, n < 0 ? -errno : static_cast<double>(n));
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    return info.Env().Undefined();
  }

  int fd_ = -1;
};

}  // namespace

void InitUnixDgram(Napi::Env env, Napi::Object exports) {
  exports.Set("UnixDgram", UnixDgram::Define(env));
}

}  // namespace tandem
