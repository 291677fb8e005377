#include "backend/vulkan/vk_context.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "backend/vulkan/spirv.h"
#include "util/error.h"

namespace edgerag::vk {
namespace {

// Every Vulkan entry point used, loaded from the loader at run time.
#define EDGERAG_VK_FUNCS(X)                                                                                      \
  X(vkCreateInstance) X(vkDestroyInstance) X(vkEnumeratePhysicalDevices) X(vkGetPhysicalDeviceProperties)       \
  X(vkGetPhysicalDeviceProperties2) X(vkGetPhysicalDeviceFeatures2) X(vkEnumerateDeviceExtensionProperties)        \
  X(vkGetPhysicalDeviceQueueFamilyProperties) X(vkGetPhysicalDeviceMemoryProperties) X(vkCreateDevice)          \
  X(vkDestroyDevice) X(vkGetDeviceQueue) X(vkCreateBuffer) X(vkDestroyBuffer) X(vkGetBufferMemoryRequirements) \
  X(vkAllocateMemory) X(vkFreeMemory) X(vkBindBufferMemory) X(vkMapMemory) X(vkCreateShaderModule)             \
  X(vkDestroyShaderModule) X(vkCreateDescriptorSetLayout) X(vkDestroyDescriptorSetLayout)                       \
  X(vkCreatePipelineLayout) X(vkDestroyPipelineLayout) X(vkCreateComputePipelines) X(vkDestroyPipeline)         \
  X(vkCreateDescriptorPool) X(vkDestroyDescriptorPool) X(vkResetDescriptorPool) X(vkAllocateDescriptorSets)    \
  X(vkUpdateDescriptorSets) X(vkCreateCommandPool) X(vkDestroyCommandPool) X(vkAllocateCommandBuffers)         \
  X(vkBeginCommandBuffer) X(vkEndCommandBuffer) X(vkResetCommandBuffer) X(vkCmdBindPipeline)                   \
  X(vkCmdBindDescriptorSets) X(vkCmdPushConstants) X(vkCmdDispatch) X(vkCmdPipelineBarrier) X(vkCmdCopyBuffer) \
  X(vkQueueSubmit) X(vkCreateFence) X(vkDestroyFence) X(vkWaitForFences) X(vkResetFences) X(vkDeviceWaitIdle)

#define EDGERAG_VK_DECL(f) PFN_##f f = nullptr;
EDGERAG_VK_FUNCS(EDGERAG_VK_DECL)
#undef EDGERAG_VK_DECL
PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr = nullptr;

// A zeroed Vulkan create-info struct of type s.
template <typename T>
T make(VkStructureType s) {
  T v{};
  v.sType = s;
  return v;
}

void check(VkResult r, const char* what) {
  EDGERAG_CHECK(r == VK_SUCCESS, "vulkan: {} failed (VkResult {})", what, static_cast<int>(r));
}

constexpr uint32_t kMaxBindings = 8;
constexpr uint32_t kSetsPerPool = 1024;
constexpr uint32_t kPushBytes = 128;

int type_rank(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
  }
}

}  // namespace

Buffer::~Buffer() { ctx_->free_buffer(*this); }

std::shared_ptr<Context> Context::shared() {
  static std::mutex mu;
  static std::shared_ptr<Context> ctx;
  static std::string error;
  std::lock_guard lock(mu);
  if (ctx) return ctx;
  EDGERAG_CHECK(error.empty(), "{}", error);  // failed before: the same answer, without retrying
  std::shared_ptr<Context> c(new Context());
  try {
    c->open();
  } catch (const Error& e) {
    error = e.what();
    throw;
  }
  ctx = std::move(c);
  // Destroy the context at exit before the driver's own exit handlers run. `ctx`'s
  // destructor was registered on the first call, before open() loaded the driver, so it
  // runs after them: on an NVIDIA H200 every process died with SIGSEGV in ~Context
  // (docs/PERFORMANCE.md, "GPU"). A handler registered now runs before them; holders
  // that outlive it keep the context alive.
  std::atexit([] {
    std::lock_guard exit_lock(mu);
    ctx.reset();
  });
  return ctx;
}

bool Context::available(std::string* why) {
  try {
    shared();
    return true;
  } catch (const Error& e) {
    if (why) *why = e.what();
    return false;
  }
}

void Context::open() {
  // EDGERAG_VULKAN_LOADER names another loader (tests use a missing one).
  const char* env = std::getenv("EDGERAG_VULKAN_LOADER");
  const char* lib_name = env && *env ? env : "libvulkan.so.1";
  lib_ = dlopen(lib_name, RTLD_NOW | RTLD_LOCAL);
  EDGERAG_CHECK(lib_ != nullptr, "vulkan: cannot load the Vulkan loader {} (install libvulkan1 and a driver, e.g. "
                "mesa-vulkan-drivers)", lib_name);
  vkGetInstanceProcAddr = reinterpret_cast<PFN_vkGetInstanceProcAddr>(dlsym(lib_, "vkGetInstanceProcAddr"));
  EDGERAG_CHECK(vkGetInstanceProcAddr != nullptr, "vulkan: {} has no vkGetInstanceProcAddr", lib_name);
  vkCreateInstance = reinterpret_cast<PFN_vkCreateInstance>(vkGetInstanceProcAddr(nullptr, "vkCreateInstance"));
  auto app = make<VkApplicationInfo>(VK_STRUCTURE_TYPE_APPLICATION_INFO);
  app.pApplicationName = "edgerag";
  app.apiVersion = VK_API_VERSION_1_1;
  auto ici = make<VkInstanceCreateInfo>(VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO);
  ici.pApplicationInfo = &app;
  VkResult r = vkCreateInstance(&ici, nullptr, &instance_);
  EDGERAG_CHECK(r == VK_SUCCESS, "vulkan: no Vulkan 1.1 instance (VkResult {}): no driver installed?",
                static_cast<int>(r));
#define EDGERAG_VK_LOAD(f)                                                          \
  f = reinterpret_cast<PFN_##f>(vkGetInstanceProcAddr(instance_, #f));              \
  EDGERAG_CHECK(f != nullptr, "vulkan: the loader lacks {}", #f);
  EDGERAG_VK_FUNCS(EDGERAG_VK_LOAD)
#undef EDGERAG_VK_LOAD

  uint32_t n = 0;
  vkEnumeratePhysicalDevices(instance_, &n, nullptr);
  EDGERAG_CHECK(n > 0, "vulkan: no Vulkan device (install a GPU driver, or mesa-vulkan-drivers for lavapipe)");
  std::vector<VkPhysicalDevice> devs(n);
  vkEnumeratePhysicalDevices(instance_, &n, devs.data());
  // Candidates: devices with a compute queue, best type first (stable: driver order within a type).
  std::vector<std::pair<VkPhysicalDevice, uint32_t>> cands;
  for (VkPhysicalDevice d : devs) {
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(d, &nq, nullptr);
    std::vector<VkQueueFamilyProperties> qs(nq);
    vkGetPhysicalDeviceQueueFamilyProperties(d, &nq, qs.data());
    for (uint32_t i = 0; i < nq; ++i)
      if (qs[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
        cands.emplace_back(d, i);
        break;
      }
  }
  EDGERAG_CHECK(!cands.empty(), "vulkan: none of the {} devices has a compute queue", n);
  std::stable_sort(cands.begin(), cands.end(), [](const auto& a, const auto& b) {
    VkPhysicalDeviceProperties pa, pb;
    vkGetPhysicalDeviceProperties(a.first, &pa);
    vkGetPhysicalDeviceProperties(b.first, &pb);
    return type_rank(pa.deviceType) < type_rank(pb.deviceType);
  });
  size_t pick = 0;
  if (const char* e = std::getenv("EDGERAG_VK_DEVICE"); e && *e) {
    pick = std::strtoul(e, nullptr, 10);
    EDGERAG_CHECK(pick < cands.size(), "vulkan: EDGERAG_VK_DEVICE={} but only {} devices", e, cands.size());
  }
  phys_ = cands[pick].first;
  queue_family_ = cands[pick].second;
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(phys_, &props);
  name_ = props.deviceName;
  type_ = props.deviceType;
  max_range_ = props.limits.maxStorageBufferRange;
  // Subgroup reductions in the matmul shaders need arithmetic subgroup ops in compute.
  auto sg = make<VkPhysicalDeviceSubgroupProperties>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES);
  auto props2 = make<VkPhysicalDeviceProperties2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2);
  props2.pNext = &sg;
  vkGetPhysicalDeviceProperties2(phys_, &props2);
  if ((sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) && (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
      sg.subgroupSize >= 1 && sg.subgroupSize <= 64 && props.apiVersion >= VK_API_VERSION_1_1)
    features_.subgroup_size = sg.subgroupSize;
  use_subgroups_ = features_.subgroup_size > 0;
  // A listed cooperative-matrix extension is reported only (no kernel uses it).
  // Integer dot products are enabled when the extension is listed and its feature
  // is on (the instance is Vulkan 1.1, so through the KHR extension even on 1.3
  // devices); the int-dot matmul shaders need both.
  uint32_t n_ext = 0;
  vkEnumerateDeviceExtensionProperties(phys_, nullptr, &n_ext, nullptr);
  std::vector<VkExtensionProperties> exts(n_ext);
  vkEnumerateDeviceExtensionProperties(phys_, nullptr, &n_ext, exts.data());
  bool dot_ext = false;
  for (const VkExtensionProperties& e : exts) {
    const std::string_view ext = e.extensionName;
    features_.cooperative_matrix |= ext == "VK_KHR_cooperative_matrix";
    dot_ext |= ext == VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME;
  }
  auto dot = make<VkPhysicalDeviceShaderIntegerDotProductFeaturesKHR>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES_KHR);
  if (dot_ext) {
    auto f2 = make<VkPhysicalDeviceFeatures2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2);
    f2.pNext = &dot;
    vkGetPhysicalDeviceFeatures2(phys_, &f2);
    features_.integer_dot = dot.shaderIntegerDotProduct == VK_TRUE;
  }
  vkGetPhysicalDeviceMemoryProperties(phys_, &mem_props_);

  const float prio = 1.0f;
  auto qci = make<VkDeviceQueueCreateInfo>(VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO);
  qci.queueFamilyIndex = queue_family_;
  qci.queueCount = 1;
  qci.pQueuePriorities = &prio;
  auto dci = make<VkDeviceCreateInfo>(VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO);
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  const char* dot_name = VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME;
  if (features_.integer_dot) {
    dci.pNext = &dot;
    dci.enabledExtensionCount = 1;
    dci.ppEnabledExtensionNames = &dot_name;
  }
  check(vkCreateDevice(phys_, &dci, nullptr, &device_), "vkCreateDevice");
  vkGetDeviceQueue(device_, queue_family_, 0, &queue_);
  auto cpi = make<VkCommandPoolCreateInfo>(VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO);
  cpi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  cpi.queueFamilyIndex = queue_family_;
  check(vkCreateCommandPool(device_, &cpi, nullptr, &cmd_pool_), "vkCreateCommandPool");
  auto cai = make<VkCommandBufferAllocateInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO);
  cai.commandPool = cmd_pool_;
  cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  cai.commandBufferCount = 1;
  check(vkAllocateCommandBuffers(device_, &cai, &cmd_), "vkAllocateCommandBuffers");
  auto fci = make<VkFenceCreateInfo>(VK_STRUCTURE_TYPE_FENCE_CREATE_INFO);
  check(vkCreateFence(device_, &fci, nullptr, &fence_), "vkCreateFence");
}

Context::~Context() {
  if (!device_) {
    if (instance_) vkDestroyInstance(instance_, nullptr);
    return;
  }
  vkDeviceWaitIdle(device_);
  retired_.clear();
  scratch_.reset();
  for (auto& [name, p] : pipelines_) {
    vkDestroyPipeline(device_, p.pipeline, nullptr);
    vkDestroyPipelineLayout(device_, p.layout, nullptr);
    vkDestroyDescriptorSetLayout(device_, p.set_layout, nullptr);
    vkDestroyShaderModule(device_, p.module, nullptr);
  }
  for (VkDescriptorPool dp : desc_pools_) vkDestroyDescriptorPool(device_, dp, nullptr);
  vkDestroyFence(device_, fence_, nullptr);
  vkDestroyCommandPool(device_, cmd_pool_, nullptr);
  vkDestroyDevice(device_, nullptr);
  vkDestroyInstance(instance_, nullptr);
  // The loader stays loaded: drivers may keep threads with its code running until exit.
}

const char* Context::device_type() const {
  switch (type_) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
  }
}

uint32_t Context::memory_type(uint32_t type_bits, bool host_visible) const {
  const VkMemoryPropertyFlags want = host_visible
                                         ? VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT
                                         : VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
  for (uint32_t i = 0; i < mem_props_.memoryTypeCount; ++i)
    if ((type_bits & (1u << i)) && (mem_props_.memoryTypes[i].propertyFlags & want) == want) return i;
  fail("vulkan: no {} memory type for a buffer", host_visible ? "host-visible" : "device-local");
}

BufferPtr Context::alloc(size_t bytes, bool host_visible) {
  bytes = std::max<size_t>(4, (bytes + 3) / 4 * 4);
  BufferPtr b(new Buffer(this, bytes));
  auto bci = make<VkBufferCreateInfo>(VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO);
  bci.size = bytes;
  bci.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  check(vkCreateBuffer(device_, &bci, nullptr, &b->buf_), "vkCreateBuffer");
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(device_, b->buf_, &req);
  auto mai = make<VkMemoryAllocateInfo>(VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO);
  mai.allocationSize = req.size;
  mai.memoryTypeIndex = memory_type(req.memoryTypeBits, host_visible);
  const VkResult r = vkAllocateMemory(device_, &mai, nullptr, &b->mem_);
  if (r != VK_SUCCESS) {
    vkDestroyBuffer(device_, b->buf_, nullptr);
    b->buf_ = VK_NULL_HANDLE;
    fail("vulkan: cannot allocate {:.1f} MiB of {} memory on {} (VkResult {}; {:.1f} MiB in use)",
         bytes / 1048576.0, host_visible ? "host-visible" : "device", name_, static_cast<int>(r),
         allocated_ / 1048576.0);
  }
  check(vkBindBufferMemory(device_, b->buf_, b->mem_, 0), "vkBindBufferMemory");
  if (host_visible) {
    void* p = nullptr;
    check(vkMapMemory(device_, b->mem_, 0, VK_WHOLE_SIZE, 0, &p), "vkMapMemory");
    b->mapped_ = static_cast<uint8_t*>(p);
  }
  allocated_ += bytes;
  peak_ = std::max(peak_, allocated_);
  return b;
}

Buffer& Context::scratch(size_t bytes) {
  if (!scratch_ || scratch_->size() < bytes) {
    if (scratch_) retired_.push_back(std::move(scratch_));  // recorded dispatches may still use it
    scratch_ = alloc(bytes);
  }
  return *scratch_;
}

void Context::free_buffer(Buffer& b) {
  if (b.buf_) vkDestroyBuffer(device_, b.buf_, nullptr);
  if (b.mem_) {
    vkFreeMemory(device_, b.mem_, nullptr);  // unmaps too
    allocated_ -= b.size_;
  }
}

void Context::upload(Buffer& dst, const void* src, size_t bytes, size_t offset) {
  EDGERAG_CHECK(offset + bytes <= dst.size(), "vulkan: upload of {} bytes at {} past a buffer of {}", bytes, offset,
                dst.size());
  if (dst.host()) {
    std::memcpy(dst.host() + offset, src, bytes);
    return;
  }
  // Through a host-visible staging buffer in pieces of at most 64 MiB.
  constexpr size_t kChunk = size_t{64} << 20;
  BufferPtr stage = alloc(std::min(bytes, kChunk), true);
  for (size_t done = 0; done < bytes; done += kChunk) {
    const size_t n = std::min(kChunk, bytes - done);
    std::memcpy(stage->host(), static_cast<const uint8_t*>(src) + done, n);
    copy(*stage, 0, dst, offset + done, n);
    flush();
  }
}

void Context::download(const Buffer& src, void* dst, size_t bytes, size_t offset) {
  EDGERAG_CHECK(offset + bytes <= src.size(), "vulkan: download past the end of a buffer");
  if (src.host()) {
    std::memcpy(dst, src.host() + offset, bytes);
    return;
  }
  BufferPtr stage = alloc(bytes, true);
  copy(src, offset, *stage, 0, bytes);
  flush();
  std::memcpy(dst, stage->host(), bytes);
}

const Context::Pipeline& Context::pipeline(std::string_view shader, uint32_t n_bindings) {
  auto it = pipelines_.find(std::string(shader));
  if (it != pipelines_.end()) {
    EDGERAG_CHECK(it->second.n_bindings == n_bindings, "vulkan: shader {} takes {} buffers, got {}", shader,
                  it->second.n_bindings, n_bindings);
    return it->second;
  }
  const auto& mods = spirv_modules();
  auto m = mods.find(shader);
  EDGERAG_CHECK(m != mods.end(), "vulkan: no shader named {}", shader);
  Pipeline p;
  p.n_bindings = n_bindings;
  auto smi = make<VkShaderModuleCreateInfo>(VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO);
  smi.codeSize = m->second.size() * 4;
  smi.pCode = m->second.data();
  check(vkCreateShaderModule(device_, &smi, nullptr, &p.module), "vkCreateShaderModule");
  VkDescriptorSetLayoutBinding binds[kMaxBindings];
  for (uint32_t i = 0; i < n_bindings; ++i)
    binds[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
  auto dli = make<VkDescriptorSetLayoutCreateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO);
  dli.bindingCount = n_bindings;
  dli.pBindings = binds;
  check(vkCreateDescriptorSetLayout(device_, &dli, nullptr, &p.set_layout), "vkCreateDescriptorSetLayout");
  VkPushConstantRange pcr{VK_SHADER_STAGE_COMPUTE_BIT, 0, kPushBytes};
  auto pli = make<VkPipelineLayoutCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO);
  pli.setLayoutCount = 1;
  pli.pSetLayouts = &p.set_layout;
  pli.pushConstantRangeCount = 1;
  pli.pPushConstantRanges = &pcr;
  check(vkCreatePipelineLayout(device_, &pli, nullptr, &p.layout), "vkCreatePipelineLayout");
  auto cpi = make<VkComputePipelineCreateInfo>(VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO);
  cpi.stage = make<VkPipelineShaderStageCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO);
  cpi.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  cpi.stage.module = p.module;
  cpi.stage.pName = "main";
  cpi.layout = p.layout;
  check(vkCreateComputePipelines(device_, VK_NULL_HANDLE, 1, &cpi, nullptr, &p.pipeline), "vkCreateComputePipelines");
  return pipelines_.emplace(std::string(shader), p).first->second;
}

void Context::begin_if_needed() {
  if (recording_) return;
  auto bi = make<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  check(vkBeginCommandBuffer(cmd_, &bi), "vkBeginCommandBuffer");
  recording_ = true;
}

void Context::barrier() {
  auto mb = make<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                     VK_ACCESS_TRANSFER_WRITE_BIT;
  const VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  vkCmdPipelineBarrier(cmd_, stages, stages, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

void Context::dispatch(std::string_view shader, std::span<const Arg> args, const void* push, size_t push_bytes,
                       uint32_t gx, uint32_t gy, uint32_t gz) {
  EDGERAG_CHECK(args.size() <= kMaxBindings && push_bytes <= kPushBytes, "vulkan: {}: too many arguments", shader);
  if (gx == 0 || gy == 0 || gz == 0) return;
  const Pipeline& p = pipeline(shader, static_cast<uint32_t>(args.size()));
  begin_if_needed();
  // A descriptor set from the current pool, a new pool when it is full.
  const size_t pool_index = desc_pool_used_ / kSetsPerPool;
  if (pool_index == desc_pools_.size()) {
    VkDescriptorPoolSize ps{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kSetsPerPool * kMaxBindings};
    auto dpi = make<VkDescriptorPoolCreateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO);
    dpi.maxSets = kSetsPerPool;
    dpi.poolSizeCount = 1;
    dpi.pPoolSizes = &ps;
    VkDescriptorPool dp;
    check(vkCreateDescriptorPool(device_, &dpi, nullptr, &dp), "vkCreateDescriptorPool");
    desc_pools_.push_back(dp);
  }
  auto dai = make<VkDescriptorSetAllocateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO);
  dai.descriptorPool = desc_pools_[pool_index];
  dai.descriptorSetCount = 1;
  dai.pSetLayouts = &p.set_layout;
  VkDescriptorSet set;
  check(vkAllocateDescriptorSets(device_, &dai, &set), "vkAllocateDescriptorSets");
  ++desc_pool_used_;
  VkDescriptorBufferInfo infos[kMaxBindings];
  VkWriteDescriptorSet writes[kMaxBindings];
  for (size_t i = 0; i < args.size(); ++i) {
    infos[i] = {args[i].buf->handle(), 0, VK_WHOLE_SIZE};
    writes[i] = make<VkWriteDescriptorSet>(VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET);
    writes[i].dstSet = set;
    writes[i].dstBinding = static_cast<uint32_t>(i);
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &infos[i];
  }
  vkUpdateDescriptorSets(device_, static_cast<uint32_t>(args.size()), writes, 0, nullptr);
  vkCmdBindPipeline(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, p.pipeline);
  vkCmdBindDescriptorSets(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, p.layout, 0, 1, &set, 0, nullptr);
  if (push_bytes) vkCmdPushConstants(cmd_, p.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes, push);
  vkCmdDispatch(cmd_, gx, gy, gz);
  barrier();
}

void Context::copy(const Buffer& src, size_t src_off, Buffer& dst, size_t dst_off, size_t bytes) {
  EDGERAG_CHECK(src_off + bytes <= src.size() && dst_off + bytes <= dst.size(), "vulkan: copy out of bounds");
  if (bytes == 0) return;
  begin_if_needed();
  VkBufferCopy region{src_off, dst_off, bytes};
  vkCmdCopyBuffer(cmd_, src.handle(), dst.handle(), 1, &region);
  barrier();
}

void Context::flush() {
  if (!recording_) return;
  recording_ = false;
  check(vkEndCommandBuffer(cmd_), "vkEndCommandBuffer");
  auto si = make<VkSubmitInfo>(VK_STRUCTURE_TYPE_SUBMIT_INFO);
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cmd_;
  check(vkQueueSubmit(queue_, 1, &si, fence_), "vkQueueSubmit");
  check(vkWaitForFences(device_, 1, &fence_, VK_TRUE, UINT64_MAX), "vkWaitForFences");
  check(vkResetFences(device_, 1, &fence_), "vkResetFences");
  check(vkResetCommandBuffer(cmd_, 0), "vkResetCommandBuffer");
  retired_.clear();
  for (VkDescriptorPool dp : desc_pools_) vkResetDescriptorPool(device_, dp, 0);
  desc_pool_used_ = 0;
}

}  // namespace edgerag::vk
