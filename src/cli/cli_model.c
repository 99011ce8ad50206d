/* selsa command line: choosing and loading a model (--cfg / --set / --preset / weights by
 * content), shared by the subcommands that run a detector. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "selsa/weights.h"

int selsa_cli_model_arch(const char *cmd, selsa_cli_model *m, const char *cfg_path,
                         const char *const *sets, int n_sets, const char *preset) {
    if (cfg_path) {
        selsa_config *yc = malloc(sizeof *yc); /* large: keep it off the stack */
        if (!yc) return selsa_cli_fail(cmd, selsa_error(SELSA_ERR_OUT_OF_MEMORY, "configuration"), SELSA_EXIT_INTERNAL);
        selsa_config_default(yc);
        selsa_status cs = selsa_config_load(yc, cfg_path);
        for (int k = 0; cs == SELSA_OK && k < n_sets; k++) cs = selsa_config_set_arg(yc, sets[k]);
        if (cs == SELSA_OK) cs = selsa_config_validate(yc);
        m->family = yc->network.family;
        if (cs == SELSA_OK)
            cs = m->family == SELSA_FAMILY_OFFICIAL ? selsa_config_to_official(yc, &m->ocfg)
                                                    : selsa_config_to_mmtrack(yc, &m->mcfg);
        m->cfg_online = yc->test.schedule == SELSA_SCHEDULE_ONLINE;
        m->cfg_threads = yc->threads;
        free(yc);
        if (cs != SELSA_OK) return selsa_cli_fail(cmd, cs, SELSA_EXIT_USAGE);
        m->family_known = 1;
    } else if (n_sets) {
        return selsa_cli_usage_error(cmd, "--set needs --cfg");
    }
    if (preset && !strncmp(preset, "mmtrack-", 8)) {
        if (selsa_mmtrack_config_preset(&m->mcfg, preset + 8) != SELSA_OK)
            return selsa_cli_usage_error(cmd, "unknown --preset '%s' (MMTracking presets: mmtrack-r50, mmtrack-r101, "
                                              "mmtrack-x101, mmtrack-tiny, mmtrack-tiny-x)", preset);
        m->family = SELSA_FAMILY_MMTRACK;
        m->family_known = 1;
    } else if (preset) {
        if (!selsa_cli_official_preset(preset, &m->ocfg))
            return selsa_cli_usage_error(cmd, "unknown --preset '%s' (official presets: r101, r50, tiny, and "
                                              "*-baseline; MMTracking: mmtrack-r50, mmtrack-r101, mmtrack-x101, "
                                              "mmtrack-tiny)", preset);
        m->family = SELSA_FAMILY_OFFICIAL;
        m->family_known = 1;
    }
    return SELSA_EXIT_OK;
}

selsa_status selsa_cli_family_from_weights(const char *path, selsa_model_family *family) {
    selsa_weights_format fmt;
    SELSA_TRY(selsa_weights_detect(path, &fmt));
    *family = fmt == SELSA_WEIGHTS_PTH_ZIP || fmt == SELSA_WEIGHTS_PTH_LEGACY ? SELSA_FAMILY_MMTRACK
                                                                             : SELSA_FAMILY_OFFICIAL;
    return SELSA_OK;
}

static int load_fail(const char *cmd, selsa_status s, const char *path) {
    int rc = selsa_cli_fail(cmd, s, SELSA_EXIT_MODEL);
    if (rc == SELSA_EXIT_MODEL)
        fprintf(stderr, "(the model file was '%s': give an official MXNet .params or an MMTracking SELSA .pth "
                        "checkpoint, with --preset NAME when it is not the default architecture)\n", path);
    return rc;
}

int selsa_cli_model_load(const char *cmd, selsa_cli_model *m, const char *path) {
    selsa_status s = SELSA_OK;
    if (!m->family_known) {
        s = selsa_cli_family_from_weights(path, &m->family);
        if (s != SELSA_OK) return load_fail(cmd, s, path);
        if (m->family == SELSA_FAMILY_OFFICIAL) selsa_official_config_r101(&m->ocfg);
    }
    if (m->family == SELSA_FAMILY_OFFICIAL) {
        if (m->set_key_interval) m->ocfg.key_interval = m->key_interval;
        s = selsa_official_model_load_file(&m->om, &m->ocfg, path);
    } else {
        selsa_weights w;
        selsa_weights_init(&w);
        s = selsa_weights_load(path, &w);
        if (s == SELSA_OK && !m->family_known) s = selsa_mmtrack_config_from_weights(&m->mcfg, &w);
        if (s == SELSA_OK) s = selsa_mmtrack_model_load(&m->mm, &m->mcfg, &w, path);
        selsa_weights_free(&w);
    }
    if (s != SELSA_OK) return load_fail(cmd, s, path);
    return SELSA_EXIT_OK;
}

void selsa_cli_model_free(selsa_cli_model *m) {
    if (m->om) selsa_official_model_free(m->om);
    if (m->mm) selsa_mmtrack_model_free(m->mm);
    m->om = NULL, m->mm = NULL;
}
