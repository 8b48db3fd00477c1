#include "core/modules/aff.h"
#include "core/modules/cafm.h"
#include "core/modules/cbam.h"
#include "core/modules/cbam_joint.h"
#include "core/modules/cmgm.h"
#include "core/modules/eca.h"
#include "core/modules/gated_fusion.h"
#include "core/modules/iaff.h"
#include "core/modules/mfe.h"
#include "core/modules/ms_cam.h"
#include "core/modules/msf.h"
#include "core/modules/osra.h"
#include "core/modules/registry.h"
#include "core/modules/safm.h"
#include "core/modules/se.h"
#include "core/modules/spatial_attention.h"

namespace fl {

void registerBuiltinModules(ModuleRegistry& registry) {
  registry.add(msCamDescriptor());
  registry.add(affDescriptor());
  registry.add(iaffDescriptor());
  registry.add(cafmDescriptor());
  registry.add(gatedFusionDescriptor());
  registry.add(msfDescriptor());
  registry.add(mfeDescriptor());
  registry.add(safmDescriptor());
  registry.add(osraDescriptor());
  registry.add(cbamJointDescriptor());
  registry.add(cmgmDescriptor());
  registry.add(ecaDescriptor());
  registry.add(spatialAttentionDescriptor());
  registry.add(seDescriptor());
  registry.add(cbamDescriptor());
}

}  // namespace fl
