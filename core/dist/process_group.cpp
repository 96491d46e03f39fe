#include "core/dist/process_group.h"

#include <torch/torch.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <thread>

#include "core/util/error.h"

#ifdef PRETEXT_HAVE_C10D
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace pretext {

namespace {

[[maybe_unused]] std::string textOf(const std::exception& e) {
  if (auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}

}  // namespace

#ifdef PRETEXT_HAVE_C10D

namespace {

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }
std::string text(const std::vector<uint8_t>& b) { return {b.begin(), b.end()}; }

const char* kHeartbeat = "pretext/heartbeat/";
const char* kFailed = "pretext/failed/";

class GlooGroup;

class GlooPending : public PendingCollective {
 public:
  GlooPending(c10::intrusive_ptr<c10d::Work> work, GlooGroup* group) : work_(std::move(work)), group_(group) {}
  void wait() override;

 private:
  c10::intrusive_ptr<c10d::Work> work_;
  GlooGroup* group_;
};

class GlooGroup : public DistGroup {
 public:
  GlooGroup(const LaunchEnv& env, std::chrono::milliseconds timeout) : DistGroup(env), timeout_(timeout) {
    store_ = makeStore(/*server=*/!env.agentServesStore && env.rank == 0, /*main=*/true, timeout);
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
    opts->devices.push_back(ifname && *ifname ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                                              : c10d::ProcessGroupGloo::createDefaultDevice());
    opts->threads = 2;
    // The group's keys under a prefix of their own, as torch.distributed does ("default_pg").
    auto pgStore = c10::make_intrusive<c10d::PrefixStore>("pretext/pg", store_);
    group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(pgStore, static_cast<int>(env.rank),
                                                         static_cast<int>(env.worldSize), opts);
    heartbeat_ = std::thread([this] { beat(); });
  }

  ~GlooGroup() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    if (heartbeat_.joinable()) heartbeat_.join();
  }

  void allReduceSum(std::vector<torch::Tensor>& tensors) override {
    if (tensors.empty()) return;
    // One call per tensor: Gloo's coalesced all-reduce wants one dtype and layout.
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (auto& t : tensors) {
      std::vector<at::Tensor> one{t};
      works.push_back(run("all-reduce", [&] { return group_->allreduce(one); }));
    }
    for (auto& w : works) waitFor("all-reduce", w);
  }

  std::unique_ptr<PendingCollective> allReduceSumAsync(torch::Tensor& flat) override {
    std::vector<at::Tensor> one{flat};
    return std::make_unique<GlooPending>(run("all-reduce", [&] { return group_->allreduce(one); }), this);
  }

  void broadcast(std::vector<torch::Tensor>& tensors, int64_t root) override {
    c10d::BroadcastOptions opts;
    opts.rootRank = static_cast<int>(root);
    for (auto& t : tensors) {
      std::vector<at::Tensor> one{t};
      waitFor("broadcast", run("broadcast", [&] { return group_->broadcast(one, opts); }));
    }
  }

  torch::Tensor allGather(const torch::Tensor& t) override {
    auto input = t.contiguous();
    std::vector<at::Tensor> in{input};
    std::vector<std::vector<at::Tensor>> out(1);
    for (int64_t r = 0; r < worldSize(); ++r) out[0].push_back(torch::empty_like(input));
    waitFor("all-gather", run("all-gather", [&] { return group_->allgather(out, in); }));
    return torch::cat(out[0], 0);
  }

  void barrier() override { waitFor("barrier", run("barrier", [&] { return group_->barrier(); })); }

  void storeSet(const std::string& key, const std::string& value) override {
    try {
      store_->set("pretext/" + key, bytes(value));
    } catch (const std::exception& e) {
      throw Error(diagnose("store set " + key, textOf(e)));
    }
  }

  std::string storeGet(const std::string& key) override {
    try {
      return text(store_->get("pretext/" + key));
    } catch (const std::exception& e) {
      throw Error(diagnose("store get " + key, textOf(e)));
    }
  }

  std::string previousAttemptValue(const std::string& key) override {
    if (!env_.agentServesStore || env_.restartCount < 1) return "";
    try {
      auto raw = makeStore(false, false, std::chrono::milliseconds(5000), /*prefixed=*/false);
      const std::string full = "/worker/attempt_" + std::to_string(env_.restartCount - 1) + "/pretext/" + key;
      return raw->check({full}) ? text(raw->get(full)) : "";
    } catch (const std::exception&) {
      return "";
    }
  }

  void reportFailure(const std::string& message) noexcept override {
    try {
      auto client = makeStore(false, false, std::chrono::milliseconds(3000));
      client->set(kFailed + std::to_string(rank()), bytes(message));
    } catch (...) {
    }
  }

  std::string diagnose(const std::string& what, const std::string& error) override {
    std::ostringstream msg;
    msg << "rank " << rank() << ": " << what << " failed: ";
    c10::intrusive_ptr<c10d::Store> client;
    try {
      client = makeStore(false, false, std::chrono::milliseconds(3000));
    } catch (const std::exception&) {
      msg << "the store at " << env_.masterAddr << ":" << env_.masterPort << " is gone ("
          << (env_.agentServesStore ? "torchrun's agent served it" : "rank 0 served it: rank 0 died or exited")
          << "). " << error;
      return msg.str();
    }
    try {
      // A rank that failed with an error said why.
      for (int64_t r = 0; r < worldSize(); ++r) {
        if (r == rank()) continue;
        const std::string key = kFailed + std::to_string(r);
        if (client->check({key})) {
          msg << "rank " << r << " failed: " << text(client->get(key));
          return msg.str();
        }
      }
      // Else: which ranks stopped beating?
      std::vector<int64_t> before(worldSize());
      for (int64_t r = 0; r < worldSize(); ++r) before[r] = client->add(kHeartbeat + std::to_string(r), 0);
      std::this_thread::sleep_for(std::chrono::milliseconds(kSilentMs));
      std::vector<int64_t> silent;
      for (int64_t r = 0; r < worldSize(); ++r)
        if (r != rank() && client->add(kHeartbeat + std::to_string(r), 0) == before[r]) silent.push_back(r);
      if (!silent.empty()) {
        msg << (silent.size() == 1 ? "rank " : "ranks ");
        for (size_t i = 0; i < silent.size(); ++i) msg << (i ? ", " : "") << silent[i];
        msg << " stopped answering (no heartbeat for "
            << kSilentMs / 1000 << " s: killed, crashed or its machine is gone). " << error;
        return msg.str();
      }
    } catch (const std::exception& e) {
      msg << "the store stopped answering while Pretext looked for the failed rank (" << textOf(e) << "). ";
    }
    msg << "every rank is alive, so one of them is stuck or slower than the timeout ("
        << timeout_.count() / 1000 << " s). " << error;
    return msg.str();
  }

  [[noreturn]] void fail(const std::string& what, const std::exception& e) { throw Error(diagnose(what, textOf(e))); }

 private:
  static constexpr int kSilentMs = 3000;

  // The main store of each rank counts in the server's wait for the workers (as Python's
  // TCPStore(host, port, world_size, is_master) does); the heartbeat's and the diagnosis's
  // extra clients do not.
  c10::intrusive_ptr<c10d::Store> makeStore(bool server, bool main, std::chrono::milliseconds timeout,
                                            bool prefixed = true) const {
    c10d::TCPStoreOptions o;
    o.port = static_cast<uint16_t>(env_.masterPort);
    o.isServer = server;
    o.numWorkers = main ? c10::optional<size_t>(env_.worldSize) : c10::nullopt;
    o.waitWorkers = main;
    o.timeout = timeout;
    o.multiTenant = true;
    c10::intrusive_ptr<c10d::Store> store;
    try {
      store = c10::make_intrusive<c10d::TCPStore>(env_.masterAddr, o);
    } catch (const std::exception& e) {
      throw Error("rank " + std::to_string(env_.rank) + ": could not " + (server ? "serve" : "reach") +
                  " the store at " + env_.masterAddr + ":" + std::to_string(env_.masterPort) + " within " +
                  std::to_string(timeout.count() / 1000) + " s (" + textOf(e) + "); " +
                  (server ? "is the port in use? set MASTER_PORT to a free one"
                          : "check MASTER_ADDR and MASTER_PORT, and that every rank was started"));
    }
    if (prefixed && !env_.storePrefix.empty()) store = c10::make_intrusive<c10d::PrefixStore>(env_.storePrefix, store);
    return store;
  }

  template <typename F>
  c10::intrusive_ptr<c10d::Work> run(const std::string& what, F&& start) {
    try {
      return start();
    } catch (const std::exception& e) {
      fail(what, e);
    }
  }

  void waitFor(const std::string& what, const c10::intrusive_ptr<c10d::Work>& w) {
    try {
      w->wait();
    } catch (const std::exception& e) {
      fail(what, e);
    }
  }

  void beat() {
    c10::intrusive_ptr<c10d::Store> client;
    try {
      client = makeStore(false, false, timeout_);
    } catch (...) {
      return;
    }
    const std::string key = kHeartbeat + std::to_string(rank());
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_) {
      lock.unlock();
      try {
        client->add(key, 1);
      } catch (...) {
        return;  // the store is gone: the next collective says so
      }
      lock.lock();
      cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return stop_; });
    }
  }

  friend class GlooPending;
  std::chrono::milliseconds timeout_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
  std::thread heartbeat_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
};

void GlooPending::wait() {
  try {
    work_->wait();
  } catch (const std::exception& e) {
    group_->fail("all-reduce", e);
  }
}

}  // namespace

bool DistGroup::available() { return true; }

std::shared_ptr<DistGroup> DistGroup::connect(const LaunchEnv& env, std::chrono::milliseconds timeout) {
  return std::make_shared<GlooGroup>(env, timeout);
}

#else

bool DistGroup::available() { return false; }

std::shared_ptr<DistGroup> DistGroup::connect(const LaunchEnv& env, std::chrono::milliseconds) {
  throw Error(env.describe() + ": this build of Pretext has no distributed engine (c10d with Gloo): "
              "install libgloo-dev (scripts/setup.sh does) and rebuild");
}

#endif

}  // namespace pretext
