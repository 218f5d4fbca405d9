/* Every public _INIT macro, as a caller writes it: compiled with -Wall -Wextra -pedantic
 * -Werror, so a macro that leaves fields out (-Wmissing-field-initializers) fails the
 * build. */
#include "trisa/trisa.h"

int init_macros_ok(void);

int init_macros_ok(void)
{
    trisa_bundle_zip_limits zl = TRISA_BUNDLE_ZIP_LIMITS_INIT;
    trisa_bundle_options bo = TRISA_BUNDLE_OPTIONS_INIT;
    trisa_bundle_verify_options vo = TRISA_BUNDLE_VERIFY_OPTIONS_INIT;
    trisa_bundle_write_options wo = TRISA_BUNDLE_WRITE_OPTIONS_INIT;
    trisa_csr_config_options cco = TRISA_CSR_CONFIG_OPTIONS_INIT;
    trisa_csr_options co = TRISA_CSR_OPTIONS_INIT;
    trisa_hsm_options ho = TRISA_HSM_OPTIONS_INIT;
    trisa_hsm_keygen_options hko = TRISA_HSM_KEYGEN_OPTIONS_INIT;
    trisa_keygen_spec ks = TRISA_KEYGEN_SPEC_INIT;
    trisa_sectigo_options so = TRISA_SECTIGO_OPTIONS_INIT;
    trisa_enroll_options eo = TRISA_ENROLL_OPTIONS_INIT;
    return (int)(zl.version + bo.version + vo.version + wo.version + cco.version + co.version +
                 ho.version + hko.version + ks.version + so.version + eo.version);
}
