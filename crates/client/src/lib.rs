pub mod cms_sign;
