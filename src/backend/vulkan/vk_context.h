// The Vulkan backend's device context: the loader (opened at run time, so a
// machine without one runs on the CPU), one physical device (discrete >
// integrated > virtual > CPU-type such as Mesa's lavapipe; EDGERAG_VK_DEVICE=i
// picks the i-th), one compute queue, buffers, and the compute pipelines of
// the embedded shaders. Work is recorded into one command buffer (dispatch)
// and submitted at once (flush): one submit per forward step.
// Not thread-safe: callers hold lock() around recording and flush.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

namespace edgerag::vk {

class Context;

// A device buffer. Host-visible buffers are mapped (host()); device-local ones
// are filled through Context::upload / read with Context::download.
class Buffer {
 public:
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer();
  size_t size() const { return size_; }
  uint8_t* host() const { return mapped_; }  // nullptr unless host-visible
  VkBuffer handle() const { return buf_; }

 private:
  friend class Context;
  Buffer(Context* ctx, size_t size) : ctx_(ctx), size_(size) {}
  Context* ctx_;
  size_t size_;
  VkBuffer buf_ = VK_NULL_HANDLE;
  VkDeviceMemory mem_ = VK_NULL_HANDLE;
  uint8_t* mapped_ = nullptr;
};
using BufferPtr = std::unique_ptr<Buffer>;

// A buffer bound to a shader binding: the whole buffer.
struct Arg {
  const Buffer* buf;
};

// What the device offers the matrix products beyond plain GLSL 450, queried when
// the context opens (vk_ops.h's select_matmul decides from it).
struct MatmulFeatures {
  uint32_t subgroup_size = 0;       // arithmetic subgroup operations in compute shaders (0: none)
  bool cooperative_matrix = false;  // VK_KHR_cooperative_matrix listed (reported only: no kernel uses it)
  bool integer_dot = false;         // VK_KHR_shader_integer_dot_product's feature, enabled on the device
};

class Context {
 public:
  // The process's context, opened on first use. Throws edgerag::Error with the
  // reason (no loader, no device, no compute queue).
  static std::shared_ptr<Context> shared();
  // Whether shared() succeeds; `why` gets the reason when not.
  static bool available(std::string* why = nullptr);
  ~Context();

  const std::string& device_name() const { return name_; }
  const char* device_type() const;  // "discrete", "integrated", "virtual", "cpu", "other"
  size_t max_buffer_bytes() const { return max_range_; }
  // Subgroup size when the device has arithmetic subgroup operations in compute
  // shaders (0 otherwise). The matmul shaders then reduce with subgroupAdd
  // instead of a shared-memory tree, unless use_subgroups(false) (tests, both paths).
  uint32_t subgroup_size() const { return features_.subgroup_size; }
  bool subgroups() const { return use_subgroups_; }
  void use_subgroups(bool on) { use_subgroups_ = on && features_.subgroup_size > 0; }
  const MatmulFeatures& features() const { return features_; }
  std::mutex& lock() { return mu_; }

  // Allocates `bytes` (rounded up to 4) of device-local or host-visible memory.
  // Throws a clear error when the device cannot supply it.
  BufferPtr alloc(size_t bytes, bool host_visible = false);
  void upload(Buffer& dst, const void* src, size_t bytes, size_t offset = 0);
  void download(const Buffer& src, void* dst, size_t bytes, size_t offset = 0);
  // Bytes in live buffers now / at most so far.
  size_t allocated_bytes() const { return allocated_; }
  size_t peak_bytes() const { return peak_; }

  // Records a dispatch of the named shader (spirv.h) over groups (x, y, z), its
  // buffers at bindings 0.. and its push constants; a barrier orders it after
  // everything recorded before.
  void dispatch(std::string_view shader, std::span<const Arg> args, const void* push, size_t push_bytes, uint32_t gx,
                uint32_t gy = 1, uint32_t gz = 1);
  template <typename Push>
  void dispatch(std::string_view shader, std::initializer_list<Arg> args, const Push& push, uint32_t gx,
                uint32_t gy = 1, uint32_t gz = 1) {
    dispatch(shader, std::span<const Arg>(args.begin(), args.size()), &push, sizeof(Push), gx, gy, gz);
  }
  // A device buffer of at least `bytes` for intermediates of the recorded work
  // (the int-dot matmul's quantized activations). A larger request replaces it;
  // the old one lives until flush, since recorded dispatches may still read it.
  Buffer& scratch(size_t bytes);
  // Records a copy of bytes between buffers (ordered like a dispatch).
  void copy(const Buffer& src, size_t src_off, Buffer& dst, size_t dst_off, size_t bytes);
  // Submits what was recorded and waits for it.
  void flush();

 private:
  struct Pipeline {
    VkShaderModule module = VK_NULL_HANDLE;
    VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
    VkPipelineLayout layout = VK_NULL_HANDLE;
    VkPipeline pipeline = VK_NULL_HANDLE;
    uint32_t n_bindings = 0;
  };
  Context() = default;
  void open();
  const Pipeline& pipeline(std::string_view shader, uint32_t n_bindings);
  void begin_if_needed();
  void barrier();
  uint32_t memory_type(uint32_t type_bits, bool host_visible) const;
  void free_buffer(Buffer& b);
  friend class Buffer;

  void* lib_ = nullptr;
  VkInstance instance_ = VK_NULL_HANDLE;
  VkPhysicalDevice phys_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
  VkPhysicalDeviceMemoryProperties mem_props_{};
  VkPhysicalDeviceType type_ = VK_PHYSICAL_DEVICE_TYPE_OTHER;
  VkCommandPool cmd_pool_ = VK_NULL_HANDLE;
  VkCommandBuffer cmd_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  std::vector<VkDescriptorPool> desc_pools_;  // reset after each flush; grown when full
  size_t desc_pool_used_ = 0;
  bool recording_ = false;
  std::string name_;
  size_t max_range_ = 0;
  MatmulFeatures features_;
  bool use_subgroups_ = false;
  size_t allocated_ = 0, peak_ = 0;
  BufferPtr scratch_;
  std::vector<BufferPtr> retired_;
  std::unordered_map<std::string, Pipeline> pipelines_;
  std::mutex mu_;
};

}  // namespace edgerag::vk
